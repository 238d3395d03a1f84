"""Sign in to a step's server from Python with requests, then read /me.

    python3 client.py [BASE]     # BASE: http://localhost:8080 by default

requests keeps cookies in http.cookiejar, which never sends a Secure cookie
over plain http, not even to localhost (browsers, curl and Go's cookie jar
do). So a requests.Session signs in (200), keeps the __Host-session cookie,
and then gets 401 from /me. Setting a cookie policy on Session.cookies does
not help: requests merges the cookies into a fresh jar with the default
policy on every request. Two ways work: run the server with
-secure-cookies=false for local scripting (the cookie is then a plain
"session" that the jar sends), or pass the cookie on by hand, as below.
"""
import sys

import requests

base = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8080"
creds = {"username": "alice", "password": "wonderland"}

# A Session's cookie jar: 200, then 401 (200 with -secure-cookies=false).
s = requests.Session()
login = s.post(base + "/login", json=creds)
print("session jar:", login.status_code, s.get(base + "/me").status_code)

# The cookie passed on by hand: 200, then 200 and the user.
login = requests.post(base + "/login", json=creds)
cookie = "; ".join(f"{c.name}={c.value}" for c in login.cookies)
me = requests.get(base + "/me", headers={"Cookie": cookie})
print("by hand:", login.status_code, me.status_code, me.json()["user"])
