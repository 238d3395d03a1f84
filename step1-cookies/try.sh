#!/bin/sh
# The curl walkthrough that README.md quotes. Run it against a running step
# (go run . in another terminal), from this folder or any other:
#
#   sh try.sh
#
# Each command is printed as the README shows it, then run. The first one
# moves into a fresh temporary folder, so the cookie files (jar, stolen...)
# never land in the repository; this script removes that folder at the end.
# CI runs it against the real server (go run ./tools/transcript, with BASE
# set to that server's URL) and compares its output, with times, cookie
# values and names normalised, with try.golden.
set -eu
BASE=${BASE:-http://localhost:8080}
TMPDIR=$(mktemp -d)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
trap 'exit 1' INT TERM
# Each line below is printed, then run; a line starting with # is a comment.
while IFS= read -r cmd; do
	case $cmd in '' | '#'*) printf '%s\n' "$cmd" && continue ;; esac
	printf '$ %s\n' "$cmd"
	eval "$(printf '%s\n' "$cmd" | sed "s|http://localhost:8080|$BASE|g")"
done <<'WALK'
# First, a fresh temporary folder: the cookie files (jar, stolen) stay out of the repository.
cd "$(mktemp -d)"

# Count visits: the count is the cookie itself, a plain number (and not HttpOnly).
curl -s -c jar -b jar -H 'Accept: application/json' http://localhost:8080/visits
curl -s -i -c jar -b jar -H 'Accept: application/json' http://localhost:8080/visits | grep -e Set-Cookie -e '^{'

# Anyone can edit it, and the server believes whatever comes back.
curl -s -b 'visits=1000' -H 'Accept: application/json' http://localhost:8080/visits

# Sign in. The username and login time go into the session cookie, encrypted and signed.
curl -s -i -c jar -b jar -H 'Content-Type: application/json' -d '{"username":"alice","password":"wonderland"}' http://localhost:8080/login | grep -e Set-Cookie -e '^{'
curl -s -b jar http://localhost:8080/me

# A wrong password and an unknown user get the same answer.
curl -s -H 'Content-Type: application/json' -d '{"username":"alice","password":"guess"}' http://localhost:8080/login
curl -s -H 'Content-Type: application/json' -d '{"username":"mallory","password":"guess"}' http://localhost:8080/login

# Someone copies the cookie; then alice logs out.
cp jar stolen
curl -s -i -c jar -b jar -X POST -H 'Accept: application/json' http://localhost:8080/logout | grep -e '^HTTP' -e Set-Cookie -e Clear-Site-Data -e '^{'

# The copy still works: the server keeps nothing that logout could delete.
curl -s -b stolen http://localhost:8080/me
WALK
