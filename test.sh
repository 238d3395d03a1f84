#!/usr/bin/env bash
# test.sh runs every check that CI runs, for every module in go.work:
# gofmt, go vet, go test -race and every benchmark once. Each module is
# tested on its own (GOWORK=off, from inside its folder), as a reader who
# copies one step out would run it. Modules are tested two at a time, each
# into a log of its own; the logs are printed in order at the end.
#
# What the tests need besides Go and gcc (redis-server for step 5, Chromium
# for the browser tests) is installed with apt-get when this runs as root, and
# otherwise named. With CI=true nothing may be missing: those tests fail.
#
#   ./test.sh           # everything (about 14 minutes on 2 cores)
#   JOBS=1 ./test.sh    # one module at a time
set -euo pipefail
cd "$(dirname "$0")"
JOBS=${JOBS:-2}

say() { printf '\n== %s\n' "$*"; }

# need COMMAND DEBIAN-PACKAGE: install a tool the tests use when it is missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing $2 (for $1)"
		if [ -z "${apt_updated:-}" ]; then
			apt-get update -qq && apt_updated=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
		return 0
	fi
	echo "!! $1 is missing: install it (sudo apt-get install $2); the tests that need it will skip${CI:+ — and fail, since CI=true}" >&2
}

modules=$(go list -m -f '{{.Dir}}' | sed "s|^$PWD/||")
command -v gcc >/dev/null || { echo "!! gcc is missing (cgo builds SQLite): sudo apt-get install gcc" >&2; exit 1; }
if [ -d step5-redis ] || [ -d e2e ]; then need redis-server redis-server; fi
if [ -d e2e ]; then need chromium chromium; fi
need curl curl # the READMEs' curl walkthroughs (try.sh) run in the checks below
need patch patch # the workshop verifier applies the solutions as patches

say "preflight (what a workshop machine needs; a miss here is reported, the tests decide)"
scripts/preflight || true

say "gofmt"
unformatted=$(gofmt -l $modules)
if [ -n "$unformatted" ]; then
	echo "gofmt wants to change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

# check MODULE: vet, race tests and one run of each benchmark, into a log.
check() {
	local m=$1
	(
		cd "$m"
		export GOWORK=off
		printf '\n== %s: go vet\n' "$m"
		go vet ./...
		printf '\n== %s: go test -race\n' "$m"
		go test -race -count=1 ./...
		printf '\n== %s: benchmarks, once each (they measure in BENCHMARKS.md; here they only must not rot)\n' "$m"
		go test -run '^$' -bench . -benchtime=1x ./...
	)
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Each module runs in the background into a log of its own and leaves its
# exit status next to it; at most JOBS run at once. The logs are printed in
# order once all have ended.
start=$SECONDS
for m in $modules; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
	log="$logs/${m//\//_}"
	(check "$m" >"$log.log" 2>&1; echo $? >"$log.rc") &
done
wait
failed=""
for m in $modules; do
	log="$logs/${m//\//_}"
	cat "$log.log"
	[ "$(cat "$log.rc" 2>/dev/null)" = 0 ] || failed="$failed $m"
done
say "modules tested in $((SECONDS - start)) s"
if [ -n "$failed" ]; then
	echo "FAILED:$failed" >&2
	exit 1
fi

say "README quotes are the code they quote"
(cd tools && GOWORK=off go run ./docsync -root ..)
say "curl walkthroughs print what the READMEs show"
(cd tools && GOWORK=off go run ./transcript -root ..)
say "every changed file of every step is explained in its README"
scripts/stepdiff --check

say "workshop exercises: each fails as shipped and passes with its solution"
scripts/exercises
scripts/exercises --self-test

say "all checks passed in $SECONDS s"
