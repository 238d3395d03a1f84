#!/usr/bin/env bash
# The curl walkthrough that README.md quotes. Run it against a running step:
#
#   go run . &   BASE=http://localhost:8080 bash try.sh
#
# CI runs it against the real server (go run ./tools/transcript) and compares
# its output, with times, cookie values and names normalised, with try.golden.
set -euo pipefail
BASE=${BASE:-http://localhost:8080}
# The cookie files (jar, stolen...) live in a folder of this run's own,
# removed at the end: nothing is left in the step's folder.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# Each line below is printed, then run; a line starting with # is a comment.
while IFS= read -r cmd; do
	case $cmd in '' | '#'*) printf '%s\n' "$cmd" && continue ;; esac
	printf '$ %s\n' "${cmd//\$BASE/http://localhost:8080}"
	eval "$cmd"
done <<'WALK'
# Count visits: the first visit gets a cookie holding an id; the count stays on the server.
curl -s -i -c jar -b jar -H 'Accept: application/json' $BASE/visits | grep -e Set-Cookie -e '^{'
curl -s -i -c jar -b jar -H 'Accept: application/json' $BASE/visits | grep -e Set-Cookie -e '^{'

# Sign in. The session gets a new id: compare the cookie before and after.
curl -s -i -c jar -b jar -H 'Content-Type: application/json' -d '{"username":"alice","password":"wonderland"}' $BASE/login | grep -e Set-Cookie -e '^{'
curl -s -b jar $BASE/me

# A wrong password and an unknown user get the same answer.
curl -s -H 'Content-Type: application/json' -d '{"username":"alice","password":"guess"}' $BASE/login
curl -s -H 'Content-Type: application/json' -d '{"username":"mallory","password":"guess"}' $BASE/login

# Someone copies the cookie; then alice logs out.
cp jar stolen
curl -s -i -c jar -b jar -X POST -H 'Accept: application/json' $BASE/logout | grep -e '^HTTP' -e Set-Cookie -e Clear-Site-Data -e '^{'

# The copy is dead too: logout deleted the session on the server.
curl -s -b stolen $BASE/me
WALK
