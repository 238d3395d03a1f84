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
# The walkthrough signs up names of its own (alice-1f2e3d4c, Alice-... is
# the same name): it runs again, against the same server or data file, and
# never meets the quickstart's alice. CI sets TRY_ID and shows it as <id>.
id=${TRY_ID:-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')}
alice=alice-$id Alice=Alice-$id ALICE=ALICE-${id^^}
# Each line below is printed, then run; a line starting with # is a comment.
while IFS= read -r cmd; do
	case $cmd in '' | '#'*) printf '%s\n' "$cmd" && continue ;; esac
	shown=${cmd//\$BASE/http://localhost:8080}
	for v in alice Alice ALICE; do # the names as they are sent
		shown=${shown//\'\$$v\'/${!v}} shown=${shown//\$$v/${!v}}
	done
	printf '$ %s\n' "$shown"
	eval "$cmd"
done <<'WALK'
# Sign up on a laptop, then sign in as the same user on a phone.
curl -s -c jar -b jar -A 'Laptop/1.0' -H 'Content-Type: application/json' -d '{"username":"'$alice'","password":"wonderland"}' $BASE/signup
curl -s -c phone -b phone -A 'Phone/1.0' -H 'Content-Type: application/json' -d '{"username":"'$alice'","password":"wonderland"}' $BASE/login

# alice's sessions, as the laptop sees them: when, where, which one is this; a handle, never an id.
curl -s -b jar -H 'Accept: application/json' $BASE/sessions

# The phone is lost. From the laptop, change the password: every other session ends, this one gets a new id.
cp jar stolen
curl -s -c jar -b jar -H 'Content-Type: application/json' -d '{"current_password":"wonderland","new_password":"looking-glass"}' $BASE/password
curl -s -b phone $BASE/me
curl -s -b stolen $BASE/me
curl -s -b jar $BASE/me

# A wrong current password is refused, and counted like a failed login.
curl -s -b jar -H 'Content-Type: application/json' -d '{"current_password":"guess","new_password":"whatever-else"}' $BASE/password

# Sign out everywhere: every session of alice ends, this one too.
curl -s -i -c jar -b jar -X POST -H 'Accept: application/json' $BASE/logout-all | grep -e '^HTTP' -e Set-Cookie -e Clear-Site-Data -e '^{'
curl -s -b jar $BASE/me

# The database answers, so the server is healthy.
curl -s $BASE/healthz
WALK
