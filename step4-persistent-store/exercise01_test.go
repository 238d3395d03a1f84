//go:build exercise

package main

import (
	"net/http"
	"strings"
	"testing"
)

// Exercise 01 (EXERCISES.md): POST /logout-others signs the user out of
// every other browser and keeps this one signed in under a new id, so that
// a copy of its cookie is out too, with 200 and {"user": NAME}; a browser's
// form gets a 303 back to /sessions, which offers the button. Nobody else is
// signed out, and a page on another site cannot make the browser post it.
func TestExercise01_LogoutOthers(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	laptop := signInFrom(t, ts, "alice", "wonderland", "Laptop/1.0")
	phone := signInFrom(t, ts, "alice", "wonderland", "Phone/1.0")
	bob := signInFrom(t, ts, "bob", "the-builder", "Bob/1.0")
	laptopCopy := newClient(t, ts) // a thief's copy of the laptop's cookie
	laptopCopy.setSessionCookie(laptop.sessionCookie())

	cross := map[string]string{"Accept": "application/json", "Sec-Fetch-Site": "cross-site"}
	if r := laptop.do("POST", "/logout-others", nil, cross); r.StatusCode != http.StatusForbidden || phone.whoami() != "alice" {
		t.Fatalf("sent: POST /logout-others as alice, with Sec-Fetch-Site: cross-site (a form on another site)\ngot:  %d %s, and alice's phone is signed in: %v\nwant: 403, and nobody signed out", r.StatusCode, strings.TrimSpace(r.Body), phone.whoami() == "alice")
	}

	r := laptop.do("POST", "/logout-others", nil, jsonHeaders)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("sent: POST /logout-others (Accept: application/json) as alice, signed in on a laptop and a phone\ngot:  %d %s\nwant: 200 {\"user\":\"alice\"}", r.StatusCode, strings.TrimSpace(r.Body))
	}
	if user, _ := r.json(t)["user"].(string); user != "alice" {
		t.Errorf("sent: POST /logout-others as alice\ngot:  200 %s\nwant: 200 {\"user\":\"alice\"}", strings.TrimSpace(r.Body))
	}
	if got := laptop.whoami(); got != "alice" {
		t.Errorf("sent: POST /logout-others from alice's laptop, then GET /me from the laptop\ngot:  /me says %q\nwant: alice: this session stays signed in", got)
	}
	if got := phone.whoami(); got != "" {
		t.Errorf("sent: POST /logout-others from alice's laptop, then GET /me from her phone\ngot:  /me says %q\nwant: 401: every other session of alice is signed out", got)
	}
	if got := laptopCopy.whoami(); got != "" {
		t.Errorf("sent: POST /logout-others from alice's laptop, then GET /me with a copy of the laptop's cookie taken before\ngot:  /me says %q\nwant: 401: the laptop's session goes on under a new id, so a copy of its old cookie is one of the others", got)
	}
	if got := bob.whoami(); got != "bob" {
		t.Errorf("sent: POST /logout-others as alice, then GET /me as bob\ngot:  /me says %q\nwant: bob: other users are not signed out", got)
	}
	list := laptop.get("/sessions")
	if sessions, _ := list.json(t)["sessions"].([]any); len(sessions) != 1 {
		t.Errorf("sent: POST /logout-others as alice (signed in 3 times: signup, laptop, phone), then GET /sessions\ngot:  %s\nwant: 1 session, the laptop's", strings.TrimSpace(list.Body))
	}

	if r := newClient(t, ts).do("POST", "/logout-others", nil, jsonHeaders); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("sent: POST /logout-others without a session\ngot:  %d %s\nwant: 401 {\"error\":\"not signed in\"}", r.StatusCode, strings.TrimSpace(r.Body))
	}
	if r := laptop.get("/logout-others"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("sent: GET /logout-others\ngot:  %d %s\nwant: 405: a link must not sign anybody out", r.StatusCode, strings.TrimSpace(r.Body))
	}

	// From a browser: a button on /sessions, then back to the list.
	page := laptop.do("GET", "/sessions", nil, map[string]string{"Accept": "text/html"})
	if !strings.Contains(page.Body, `action="/logout-others"`) {
		t.Errorf("sent: GET /sessions (Accept: text/html)\ngot:  a page without a form that posts to /logout-others\nwant: a button for it, next to \"Sign out everywhere\"")
	}
	tablet := signInFrom(t, ts, "alice", "wonderland", "Tablet/1.0")
	r = laptop.postForm("/logout-others", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sessions" {
		t.Errorf("sent: POST /logout-others as a form (no Accept: application/json)\ngot:  %d, Location %q\nwant: 303 to /sessions", r.StatusCode, r.Header.Get("Location"))
	}
	if laptop.whoami() != "alice" || tablet.whoami() != "" {
		t.Errorf("sent: POST /logout-others as a form from the laptop\ngot:  laptop signed in: %v, tablet signed in: %v\nwant: the laptop still signed in, the tablet signed out", laptop.whoami() == "alice", tablet.whoami() == "alice")
	}
}
