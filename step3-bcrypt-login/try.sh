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
# Sign up. "Alice" is folded to alice, and signing up signs you in.
curl -s -c jar -b jar -H 'Content-Type: application/json' -d '{"username":"'$Alice'","password":"correct horse battery staple"}' $BASE/signup
curl -s -b jar $BASE/me

# The name is taken, however it is spelt; a broken rule is named.
curl -s -H 'Content-Type: application/json' -d '{"username":"'$ALICE'","password":"another passphrase"}' $BASE/signup
curl -s -H 'Content-Type: application/json' -d '{"username":"al","password":"short"}' $BASE/signup

# A wrong password and an unknown user get the same answer (and take as long).
curl -s -H 'Content-Type: application/json' -d '{"username":"'$alice'","password":"guess 1"}' $BASE/login
curl -s -H 'Content-Type: application/json' -d '{"username":"mallory","password":"guess 1"}' $BASE/login

# Four more guesses make five failures for alice from this address...
for i in 2 3 4 5; do curl -s -H 'Content-Type: application/json' -d "{\"username\":\"$alice\",\"password\":\"guess $i\"}" $BASE/login; done

# ...and the sixth attempt is refused, even with the right password.
curl -s -i -H 'Content-Type: application/json' -d '{"username":"'$alice'","password":"correct horse battery staple"}' $BASE/login | grep -e '^HTTP' -e Retry-After -e '^{'

# A page on another site cannot make your browser sign you out (or in).
curl -s -b jar -X POST -H 'Accept: application/json' -H 'Sec-Fetch-Site: cross-site' $BASE/logout
curl -s -b jar $BASE/me

# curl sends no Sec-Fetch-Site or Origin: no browser, no victim, so it may.
curl -s -c jar -b jar -X POST -H 'Accept: application/json' $BASE/logout
WALK
