#!/bin/sh
# test.sh runs every check that CI runs, for every module in go.work:
# a shellcheck of every shell file, go mod tidy, gofmt, go vet, go test -race
# and every benchmark once. Each module is tested on its own (GOWORK=off,
# from inside its folder), as a reader who copies one step out would run it.
# Modules are tested two at a time, each into a log of its own; the logs are
# printed in order at the end. It is POSIX sh: CI runs it with dash.
#
# What the tests need besides Go and gcc (redis-server for step 5, Chromium
# for the browser tests, curl, patch, shellcheck) is installed with apt-get
# when this runs as root, and otherwise named. With CI=true nothing may be
# missing: those tests fail.
#
#   sh ./test.sh          # everything (about 13 minutes on 2 cores: 786 s measured)
#   JOBS=1 sh ./test.sh   # one module at a time
set -eu
cd "$(dirname "$0")"
JOBS=${JOBS:-2}
started=$(date +%s)
apt_updated=

say() { printf '\n== %s\n' "$*"; }

# need COMMAND DEBIAN-PACKAGE: install a tool the tests use when it is missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing $2 (for $1)"
		if [ -z "$apt_updated" ]; then
			apt-get update -qq && apt_updated=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
		return 0
	fi
	echo "!! $1 is missing: install it (sudo apt-get install $2; macOS: brew install $2); the tests that need it will skip${CI:+ — and fail, since CI=true}" >&2
}

modules=$(go list -m -f '{{.Dir}}' | sed "s|^$PWD/||")
command -v gcc >/dev/null || command -v cc >/dev/null || { echo "!! a C compiler is missing (cgo builds SQLite): sudo apt-get install gcc" >&2; exit 1; }
if [ -d step5-redis ] || [ -d e2e ]; then need redis-server redis-server; fi
if [ -d e2e ]; then need chromium chromium; fi
need curl curl             # the READMEs' curl walkthroughs (try.sh) run in the checks below
need patch patch           # the workshop verifier applies the solutions as patches
need shellcheck shellcheck # every shell file must be POSIX sh

say "preflight (what a workshop machine needs; a miss here is reported, the tests decide)"
sh scripts/preflight || true

# The shell files: what git tracks under a sh shebang or named *.sh (outside a
# git checkout, the known ones). Each must be #!/bin/sh and clean as POSIX sh,
# so that it runs on macOS and in dash alike.
say "shellcheck -s sh"
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	shfiles=$(git ls-files | while IFS= read -r f; do
		[ -f "$f" ] || continue
		case $f in *.sh) echo "$f" && continue ;; esac
		if head -n 1 "$f" | grep -q '^#!.*sh'; then echo "$f"; fi
	done)
else
	shfiles=$(ls test.sh .ci/run scripts/* step*/*.sh 2>/dev/null)
fi
for f in $shfiles; do
	if [ "$(head -n 1 "$f")" != "#!/bin/sh" ]; then
		echo "$f: the first line must be #!/bin/sh" >&2
		exit 1
	fi
done
if command -v shellcheck >/dev/null 2>&1; then
	# shellcheck disable=SC2086 # one argument per file
	shellcheck -s sh $shfiles
	echo "clean: $(echo "$shfiles" | wc -l) files"
elif [ -n "${CI:-}" ]; then
	echo "!! shellcheck is missing (CI=true)" >&2
	exit 1
fi

say "go mod tidy -diff: every go.mod lists exactly what its module uses"
for m in $modules; do
	(cd "$m" && GOWORK=off go mod tidy -diff) || { echo "!! $m: run (cd $m && GOWORK=off go mod tidy)" >&2; exit 1; }
done

say "gofmt"
# shellcheck disable=SC2086 # one argument per module
unformatted=$(gofmt -l $modules)
if [ -n "$unformatted" ]; then
	echo "gofmt wants to change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

# check MODULE: vet, race tests and one run of each benchmark. It is called
# where set -e does not apply (before ||), hence the && chain.
check() (
	cd "$1" && export GOWORK=off &&
		printf '\n== %s: go vet\n' "$1" &&
		go vet ./... &&
		printf '\n== %s: go test -race\n' "$1" &&
		go test -race -count=1 ./... &&
		printf '\n== %s: benchmarks, once each (they measure in BENCHMARKS.md; here they only must not rot)\n' "$1" &&
		go test -run '^$' -bench . -benchtime=1x ./...
)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
trap 'exit 1' INT TERM
# The modules are dealt round-robin into JOBS lanes; each lane tests its
# modules one after the other in the background, each into a log of its own
# with its exit status next to it. The logs are printed in order once every
# lane has ended.
log() { printf '%s/%s' "$logs" "$(printf '%s' "$1" | tr / _)"; }
start=$(date +%s)
lane=0
while [ "$lane" -lt "$JOBS" ]; do
	i=0
	mine=""
	for m in $modules; do
		[ $((i % JOBS)) = "$lane" ] && mine="$mine $m"
		i=$((i + 1))
	done
	(
		for m in $mine; do
			rc=0
			check "$m" >"$(log "$m").log" 2>&1 || rc=$?
			echo "$rc" >"$(log "$m").rc"
		done
	) &
	lane=$((lane + 1))
done
wait
failed=""
for m in $modules; do
	cat "$(log "$m").log"
	[ "$(cat "$(log "$m").rc" 2>/dev/null)" = 0 ] || failed="$failed $m"
done
say "modules tested in $(($(date +%s) - start)) s"
if [ -n "$failed" ]; then
	echo "FAILED:$failed" >&2
	exit 1
fi

say "README quotes are the code they quote"
(cd tools && GOWORK=off go run ./docsync -root ..)
say "curl walkthroughs print what the READMEs show"
(cd tools && GOWORK=off go run ./transcript -root ..)
say "every changed file of every step is explained in its README; shared files are the same"
sh scripts/stepdiff --check

say "workshop exercises: each fails as shipped and passes with its solution"
sh scripts/exercises
sh scripts/exercises --self-test

say "all checks passed in $(($(date +%s) - started)) s"
