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

# Sign up. "Alice" is folded to alice, and signing up signs you in.
curl -s -c jar -b jar -H 'Content-Type: application/json' -d '{"username":"Alice-'$id'","password":"correct horse battery staple"}' http://localhost:8080/signup
curl -s -b jar http://localhost:8080/me

# The name is taken, however it is spelt; a broken rule is named.
curl -s -H 'Content-Type: application/json' -d '{"username":"ALICE-'$id'","password":"another passphrase"}' http://localhost:8080/signup
curl -s -H 'Content-Type: application/json' -d '{"username":"al","password":"short"}' http://localhost:8080/signup

# A wrong password and an unknown user get the same answer (and take as long).
curl -s -H 'Content-Type: application/json' -d '{"username":"alice-'$id'","password":"guess 1"}' http://localhost:8080/login
curl -s -H 'Content-Type: application/json' -d '{"username":"mallory","password":"guess 1"}' http://localhost:8080/login

# Four more guesses make five failures for alice from this address...
for i in 2 3 4 5; do curl -s -H 'Content-Type: application/json' -d "{\"username\":\"alice-$id\",\"password\":\"guess $i\"}" http://localhost:8080/login; done

# ...and the sixth attempt is refused, even with the right password.
curl -s -i -H 'Content-Type: application/json' -d '{"username":"alice-'$id'","password":"correct horse battery staple"}' http://localhost:8080/login | grep -e '^HTTP' -e Retry-After -e '^{'

# A page on another site cannot make your browser sign you out (or in).
curl -s -b jar -X POST -H 'Accept: application/json' -H 'Sec-Fetch-Site: cross-site' http://localhost:8080/logout
curl -s -b jar http://localhost:8080/me

# curl sends no Sec-Fetch-Site or Origin: no browser, no victim, so it may.
curl -s -c jar -b jar -X POST -H 'Accept: application/json' http://localhost:8080/logout
WALK
