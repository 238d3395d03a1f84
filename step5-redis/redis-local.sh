#!/bin/sh
# Starts a local Redis Cluster or Sentinel setup to try step 5 on, in a
# temporary folder, in the foreground; Ctrl-C stops every process and
# deletes the folder. Nothing is kept on disk: it is a playground.
#
#   sh redis-local.sh cluster    3 masters + 3 replicas on ports 7001-7006
#   sh redis-local.sh sentinel   a master on 6380, its replica on 6381, and
#                                3 sentinels on 26380-26382
#
# It prints the -redis URL to give the app (in another terminal), and how to
# kill a master to watch a failover.
set -eu

mode=${1:-}
case $mode in
cluster | sentinel) ;;
*)
	echo "usage: $0 cluster|sentinel" >&2
	exit 2
	;;
esac
command -v redis-server >/dev/null || {
	echo "redis-server is not installed (Debian, Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2
	exit 1
}

dir=$(mktemp -d)
pids=""
cleanup() {
	# shellcheck disable=SC2086 # one argument per pid
	[ -z "$pids" ] || kill $pids 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# start PORT ARGS...: one redis-server on 127.0.0.1:PORT, in a folder of its own.
start() {
	p=$1
	shift
	mkdir -p "$dir/$p"
	redis-server "$@" --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$dir/$p" --logfile "$dir/$p/redis.log" &
	pids="$pids $!"
	echo "redis-server on port $p: pid $!"
	until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.1; done
}

if [ "$mode" = cluster ]; then
	addrs=""
	for port in 7001 7002 7003 7004 7005 7006; do
		# A node is failed after 2s without an answer: failovers in seconds.
		start $port --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
		addrs="$addrs 127.0.0.1:$port"
	done
	# shellcheck disable=SC2086 # one argument per address
	redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes >/dev/null
	until redis-cli -p 7001 cluster info | grep -q cluster_state:ok &&
		[ "$(redis-cli -p 7001 cluster nodes | grep -c slave)" = 3 ]; do sleep 0.2; done
	redis-cli -p 7001 cluster nodes | awk '{sub(/@.*/, "", $2); print $2, $3}'
	cat <<EOF

Cluster ready. Run the app with (two nodes name a Cluster; it finds the rest):
  go run . -redis 'redis://127.0.0.1:7001?addr=127.0.0.1:7002'
Kill a master (see the lists above for its pid) to watch a failover:
  kill -9 PID
Ctrl-C stops everything.
EOF
else
	start 6380
	start 6381 --replicaof 127.0.0.1 6380
	for port in 26380 26381 26382; do
		# Two of the three must agree that the master is down, after 2s.
		cat >"$dir/sentinel-$port.conf" <<EOF
sentinel monitor mymaster 127.0.0.1 6380 2
sentinel down-after-milliseconds mymaster 2000
sentinel failover-timeout mymaster 10000
EOF
		start $port "$dir/sentinel-$port.conf" --sentinel
	done
	cat <<EOF

Sentinel ready. Run the app with:
  go run . -redis 'redis://127.0.0.1:26380?master_name=mymaster&addr=127.0.0.1:26381&addr=127.0.0.1:26382'
Kill the master (port 6380; its pid is above) to watch a failover:
  kill -9 PID
Ctrl-C stops everything.
EOF
fi
wait
