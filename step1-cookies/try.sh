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
# Count visits: the count is the cookie itself, a plain number (and not HttpOnly).
curl -s -c jar -b jar -H 'Accept: application/json' $BASE/visits
curl -s -i -c jar -b jar -H 'Accept: application/json' $BASE/visits | grep -e Set-Cookie -e '^{'

# Anyone can edit it, and the server believes whatever comes back.
curl -s -b 'visits=1000' -H 'Accept: application/json' $BASE/visits

# Sign in. The username and login time go into the session cookie, encrypted and signed.
curl -s -i -c jar -b jar -H 'Content-Type: application/json' -d '{"username":"alice","password":"wonderland"}' $BASE/login | grep -e Set-Cookie -e '^{'
curl -s -b jar $BASE/me

# A wrong password and an unknown user get the same answer.
curl -s -H 'Content-Type: application/json' -d '{"username":"alice","password":"guess"}' $BASE/login
curl -s -H 'Content-Type: application/json' -d '{"username":"mallory","password":"guess"}' $BASE/login

# Someone copies the cookie; then alice logs out.
cp jar stolen
curl -s -i -c jar -b jar -X POST -H 'Accept: application/json' $BASE/logout | grep -e '^HTTP' -e Set-Cookie -e Clear-Site-Data -e '^{'

# The copy still works: the server keeps nothing that logout could delete.
curl -s -b stolen $BASE/me
WALK
