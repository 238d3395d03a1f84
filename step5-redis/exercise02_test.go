//go:build exercise

package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// auditRE is one audit line, as EXERCISES.md spells it.
var auditRE = regexp.MustCompile(`msg=audit event=(sign-in|sign-out) user=(\S+) session=(\S+)`)

// auditLines is every audit line logged so far, as [event, user, handle].
func auditLines(ts *testServer) [][3]string {
	var out [][3]string
	for _, m := range auditRE.FindAllStringSubmatch(ts.logs.String(), -1) {
		out = append(out, [3]string{m[1], m[2], m[3]})
	}
	return out
}

// Exercise 02 (EXERCISES.md): one audit line for each sign-in (login,
// signup) and each sign-out, naming the user and the session by a handle:
// the same handle for the sign-in and the sign-out of one session, another
// for another session, and never the session's token or cookie.
func TestExercise02_AuditLog(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts) // two signups: two sign-ins
	laptop := signInFrom(t, ts, "alice", "wonderland", "Laptop/1.0")
	phone := signInFrom(t, ts, "alice", "wonderland", "Phone/1.0")
	tokens := []string{laptop.sessionCookie(), phone.sessionCookie()}
	if r := newClient(t, ts).login("alice", "wrong-password"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sent: POST /login with a wrong password\ngot:  %d\nwant: 401", r.StatusCode)
	}
	// Anonymous sessions are nobody's sign-in: no line for them.
	newClient(t, ts).get("/visits")

	lines := auditLines(ts)
	var signIns [][3]string
	for _, l := range lines {
		if l[0] == "sign-in" {
			signIns = append(signIns, l)
		}
	}
	if len(signIns) != 4 {
		t.Fatalf("sent: 2 signups (alice, bob), 2 logins of alice, 1 failed login, 1 anonymous visit\ngot:  %d sign-in lines: %q\nwant: 4, one per signup and login, each like\n      level=INFO msg=audit event=sign-in user=alice session=HANDLE\nlogs:\n%s", len(signIns), signIns, ts.logs)
	}
	users := map[string]int{}
	handles := map[string]bool{}
	for _, l := range signIns {
		users[l[1]]++
		handles[l[2]] = true
	}
	if users["alice"] != 3 || users["bob"] != 1 {
		t.Errorf("got:  sign-in lines for %v\nwant: alice 3 times (signup, laptop, phone), bob once", users)
	}
	if len(handles) != 4 {
		t.Errorf("got:  sign-in handles %v\nwant: 4 different handles, one per session", handles)
	}
	laptopHandle := signIns[2][2]

	wantStatus(t, laptop.do("POST", "/logout", nil, jsonHeaders), http.StatusOK)
	var out [][3]string
	for _, l := range auditLines(ts) {
		if l[0] == "sign-out" {
			out = append(out, l)
		}
	}
	if len(out) != 1 || out[0][1] != "alice" || out[0][2] != laptopHandle {
		t.Fatalf("sent: POST /logout from alice's laptop, signed in with handle %s\ngot:  sign-out lines %q\nwant: one, like\n      level=INFO msg=audit event=sign-out user=alice session=%s\nlogs:\n%s", laptopHandle, out, laptopHandle, ts.logs)
	}
	// Signing out nobody is nobody's sign-out.
	wantStatus(t, newClient(t, ts).do("POST", "/logout", nil, jsonHeaders), http.StatusOK)
	if n := len(auditLines(ts)); n != len(lines)+1 {
		t.Errorf("sent: POST /logout without a session\ngot:  %d audit lines, want %d: no line when nobody was signed in", n, len(lines)+1)
	}

	// The handle names a session; it never lets anybody use one.
	logs := ts.logs.String()
	for _, tok := range tokens {
		if tok == "" {
			t.Fatal("a sign-in set no session cookie")
		}
		id, _, _ := strings.Cut(tok, ".")
		for _, secret := range []string{tok, id} {
			if len(secret) >= 8 && strings.Contains(logs, secret) {
				t.Errorf("the logs hold a session's cookie or token %q: a handle must not be it", secret)
			}
		}
		for h := range handles {
			if strings.Contains(tok, h) || (len(id) >= 8 && strings.Contains(h, id)) {
				t.Errorf("handle %q and cookie %q share their text: derive the handle from the id one way (a hash), do not cut it out of it", h, tok)
			}
		}
		thief := newClient(t, ts)
		for h := range handles {
			thief.setSessionCookie(h)
			if got := thief.whoami(); got != "" {
				t.Errorf("a handle from the logs, sent as the session cookie, signs in as %q", got)
			}
		}
	}
	// Where /sessions shows a handle per session (POST /sessions/revoke),
	// the audit log uses the same one, so that the two can be matched.
	if list, _ := phone.get("/sessions").json(t)["sessions"].([]any); len(list) > 0 {
		if id, ok := list[0].(map[string]any)["id"].(string); ok && !handles[id] {
			t.Errorf("GET /sessions shows the phone's session as %q, which no audit line names: use the same handle", id)
		}
	}
}
