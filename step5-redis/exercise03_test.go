//go:build exercise

package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Exercise 03 (EXERCISES.md): sudo mode. POST /logout-all from a session
// signed in longer ago than -sudo-after needs the user's password again;
// within -sudo-after of the sign-in it does not. The tests choose the flag
// so that no test waits: 1h makes every sign-in fresh, 1ns makes every one
// old.

// logoutAll sends POST /logout-all as JSON, with {"password": password}
// unless password is nil, and no body at all then.
func (c *client) logoutAll(password *string) response {
	c.t.Helper()
	if password == nil {
		return c.do("POST", "/logout-all", nil, jsonHeaders)
	}
	return c.postJSON("/logout-all", map[string]string{"password": *password})
}

// wantAnswer fails unless r has status want; sent says what the test sent.
func wantAnswer(t *testing.T, sent string, r response, want int, why string) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("sent: %s\ngot:  %d %s\nwant: %d: %s", sent, r.StatusCode, r.Body, want, why)
	}
}

// wantSignedIn fails unless each client is signed in as user.
func wantSignedIn(t *testing.T, after, user string, clients map[string]*client) {
	t.Helper()
	for name, c := range clients {
		if got := c.whoami(); got != user {
			t.Errorf("after %s\ngot:  %s is signed in as %q (GET /me)\nwant: %q", after, name, got, user)
		}
	}
}

func ptr(s string) *string { return &s }

// A sign-in younger than -sudo-after signs out everywhere without a password.
func TestExercise03_FreshSignInNeedsNoPassword(t *testing.T) {
	ts := startServer(t, nil, "-sudo-after", "1h")
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "Laptop/1.0")
	b := signInFrom(t, ts, "alice", "wonderland", "Phone/1.0")
	sent := "POST /logout-all, no password, from a session signed in just now (-sudo-after 1h)"
	wantAnswer(t, sent, a.logoutAll(nil), http.StatusOK, "a fresh sign-in needs no password")
	wantSignedIn(t, sent, "", map[string]*client{"this browser": a, "alice's other browser": b})
}

// A sign-in older than -sudo-after must give the right password; a refusal
// signs nobody out.
func TestExercise03_OldSignInNeedsPassword(t *testing.T) {
	ts := startServer(t, nil, "-sudo-after", "1ns")
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "Laptop/1.0")
	b := signInFrom(t, ts, "alice", "wonderland", "Phone/1.0")
	bob := signInFrom(t, ts, "bob", "the-builder", "Bob/1.0")
	both := map[string]*client{"this browser": a, "alice's other browser": b}

	var refusal string
	for _, tc := range []struct {
		sent     string
		password *string
	}{
		{"no password", nil},
		{`{"password":""}`, ptr("")},
		{`{"password":"not-wonderland"}`, ptr("not-wonderland")},
		{`bob's password, {"password":"the-builder"}`, ptr("the-builder")},
	} {
		sent := "POST /logout-all with " + tc.sent + ", from alice's session signed in before -sudo-after (1ns)"
		r := a.logoutAll(tc.password)
		wantAnswer(t, sent, r, http.StatusUnauthorized, "an old sign-in must confirm the password")
		msg, _ := r.json(t)["error"].(string)
		if !strings.Contains(msg, "password") {
			t.Errorf("sent: %s\ngot:  error %q\nwant: a message that asks for the password", sent, msg)
		}
		if refusal == "" {
			refusal = msg
		} else if msg != refusal {
			t.Errorf("sent: %s\ngot:  error %q\nwant: %q, the same message for every refusal", sent, msg, refusal)
		}
		if setCookie(r) != nil {
			t.Errorf("sent: %s\ngot:  Set-Cookie %q\nwant: none: a refusal changes nothing", sent, r.Header.Get("Set-Cookie"))
		}
		wantSignedIn(t, sent, "alice", both)
	}

	sent := `POST /logout-all with a malformed JSON body, {"password":`
	r := a.do("POST", "/logout-all", strings.NewReader(`{"password":`), map[string]string{"Content-Type": "application/json"})
	wantAnswer(t, sent, r, http.StatusBadRequest, "read the body with the step's helpers: malformed JSON is 400")
	wantSignedIn(t, sent, "alice", both)

	sent = `POST /logout-all with {"password":"wonderland"}, alice's password, from an old sign-in`
	wantAnswer(t, sent, a.logoutAll(ptr("wonderland")), http.StatusOK, "the right password confirms the sign-out")
	wantSignedIn(t, sent, "", both)
	wantSignedIn(t, sent, "bob", map[string]*client{"bob": bob})

	// From a browser: the form's password field, then the home page.
	c := signInFrom(t, ts, "alice", "wonderland", "Laptop/1.0")
	sent = "POST /logout-all as a form with password=wonderland, from an old sign-in"
	r = c.postForm("/logout-all", url.Values{"password": {"wonderland"}})
	wantAnswer(t, sent, r, http.StatusSeeOther, "a form that confirms the password signs out and goes home")
	if loc := r.Header.Get("Location"); loc != "/" {
		t.Errorf("sent: %s\ngot:  Location %q\nwant: /", sent, loc)
	}
	wantSignedIn(t, sent, "", map[string]*client{"this browser": c})
}

// The password asked for again is a password check like a login's: wrong
// ones count as failed logins, so that a stolen cookie gives no faster way
// to guess it than /login does.
func TestExercise03_WrongPasswordsAreThrottled(t *testing.T) {
	ts := startServer(t, nil, "-sudo-after", "1ns")
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "Laptop/1.0")
	for i := range maxFailures {
		guess := "guess-" + string(rune('a'+i))
		r := a.logoutAll(ptr(guess))
		wantAnswer(t, `POST /logout-all with {"password":"`+guess+`"}`, r, http.StatusUnauthorized, "a wrong password is refused")
	}
	sent := "after 5 wrong passwords at /logout-all"
	wantAnswer(t, sent+`, POST /logout-all with {"password":"wonderland"}`, a.logoutAll(ptr("wonderland")), http.StatusTooManyRequests,
		"counted as failed logins, like /login and /password: the sixth attempt is 429, right or wrong")
	wantAnswer(t, sent+", POST /login as alice with the right password", newClient(t, ts).login("alice", "wonderland"), http.StatusTooManyRequests,
		"the same counter as /login")
	wantSignedIn(t, sent, "alice", map[string]*client{"this browser": a})
}
