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
# First: a fresh temporary folder for the cookie files, and a name nobody has taken yet.
cd "$(mktemp -d)"; id=$(date +%s)$$

# Sign up on a laptop, then sign in as the same user on a phone.
curl -s -c jar -b jar -A 'Laptop/1.0' -H 'Content-Type: application/json' -d '{"username":"alice-'$id'","password":"wonderland"}' http://localhost:8080/signup
curl -s -c phone -b phone -A 'Phone/1.0' -H 'Content-Type: application/json' -d '{"username":"alice-'$id'","password":"wonderland"}' http://localhost:8080/login

# alice's sessions, as the laptop sees them: when, where, which one is this; a handle, never an id.
curl -s -b jar -H 'Accept: application/json' http://localhost:8080/sessions

# The phone is lost. From the laptop, change the password: every other session ends, this one gets a new id.
cp jar stolen
curl -s -c jar -b jar -H 'Content-Type: application/json' -d '{"current_password":"wonderland","new_password":"looking-glass"}' http://localhost:8080/password
curl -s -b phone http://localhost:8080/me
curl -s -b stolen http://localhost:8080/me
curl -s -b jar http://localhost:8080/me

# A wrong current password is refused, and counted like a failed login.
curl -s -b jar -H 'Content-Type: application/json' -d '{"current_password":"guess","new_password":"whatever-else"}' http://localhost:8080/password

# Sign out everywhere: every session of alice ends, this one too.
curl -s -i -c jar -b jar -X POST -H 'Accept: application/json' http://localhost:8080/logout-all | grep -e '^HTTP' -e Set-Cookie -e Clear-Site-Data -e '^{'
curl -s -b jar http://localhost:8080/me

# Redis and the database both answer, so the server is healthy.
curl -s http://localhost:8080/healthz
WALK
