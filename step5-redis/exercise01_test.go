//go:build exercise

package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Exercise 01 (EXERCISES.md): POST /logout-others signs the user out of
// every other browser, on every instance, and keeps this browser signed in
// under a new id, so that a copy of its cookie is out too. Nobody else is
// signed out.
func TestExercise01_LogoutOthersAcrossInstances(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	a := startServer(t, env, "-db", db)
	b := startServer(t, env, "-db", db)
	signUpUsers(t, a)

	laptop := signInFrom(t, a, "alice", "wonderland", "Laptop/1.0")
	phone := signInFrom(t, b, "alice", "wonderland", "Phone/1.0")
	bob := signInFrom(t, b, "bob", "the-builder", "Bob/1.0")
	laptopCopy, phoneCopy := newClient(t, b), newClient(t, a)
	laptopCopy.setSessionCookie(laptop.sessionCookie())
	phoneCopy.setSessionCookie(phone.sessionCookie())

	r := laptop.do("POST", "/logout-others", nil, jsonHeaders)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("sent: POST /logout-others (Accept: application/json) on instance A, signed in as alice\ngot:  %d %s\nwant: 200 {\"user\":\"alice\"}", r.StatusCode, strings.TrimSpace(r.Body))
	}
	if user, _ := r.json(t)["user"].(string); user != "alice" {
		t.Errorf("sent: POST /logout-others on A, signed in as alice\ngot:  200 %s\nwant: {\"user\":\"alice\"}", strings.TrimSpace(r.Body))
	}
	for name, c := range map[string]*client{
		"alice's phone, on instance B":        phone,
		"a copy of the phone's cookie, on A":  phoneCopy,
		"a copy of the laptop's cookie, on B": laptopCopy,
	} {
		if got := c.whoami(); got != "" {
			t.Errorf("sent: POST /logout-others from alice's laptop on A, then GET /me from %s\ngot:  200, signed in as %q\nwant: 401: every other session of alice's ends, on every instance, and the laptop's old id with them", name, got)
		}
	}
	for name, url := range map[string]string{"A": a.URL, "B": b.URL} {
		laptop.base = url
		if got := laptop.whoami(); got != "alice" {
			t.Errorf("sent: POST /logout-others from alice's laptop on A, then GET /me from the laptop on %s\ngot:  /me = %q\nwant: alice: the browser that asked stays signed in", name, got)
		}
	}
	laptop.base = a.URL
	if got := bob.whoami(); got != "bob" {
		t.Errorf("sent: POST /logout-others from alice's laptop, then GET /me from bob's browser on B\ngot:  /me = %q\nwant: bob: only alice's sessions end", got)
	}
	list, _ := laptop.get("/sessions").json(t)["sessions"].([]any)
	if len(list) != 1 {
		t.Errorf("sent: POST /logout-others from alice's laptop, then GET /sessions from it\ngot:  %d sessions: %v\nwant: 1, the laptop's own (the sign-up's and the phone's are gone)", len(list), list)
	} else if current, _ := list[0].(map[string]any)["current"].(bool); !current {
		t.Errorf("sent: GET /sessions from alice's laptop after POST /logout-others\ngot:  %v\nwant: the one session left is the current one", list[0])
	}

	if r := newClient(t, a).do("POST", "/logout-others", nil, jsonHeaders); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("sent: POST /logout-others without a session cookie\ngot:  %d %s\nwant: 401 not signed in", r.StatusCode, strings.TrimSpace(r.Body))
	}

	// From a browser: a form, and back to the list of sessions.
	c := signInFrom(t, b, "alice", "wonderland", "Tablet/1.0")
	r = c.postForm("/logout-others", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sessions" {
		t.Errorf("sent: POST /logout-others as a form (Content-Type: application/x-www-form-urlencoded)\ngot:  %d, Location %q\nwant: 303 See Other to /sessions", r.StatusCode, r.Header.Get("Location"))
	}
	if got := c.whoami(); got != "alice" {
		t.Errorf("sent: POST /logout-others as a form from alice's tablet, then GET /me from it\ngot:  /me = %q\nwant: alice", got)
	}
	if got := laptop.whoami(); got != "" {
		t.Errorf("sent: POST /logout-others as a form from alice's tablet, then GET /me from her laptop\ngot:  /me = %q\nwant: 401: the laptop is one of the others now", got)
	}
}
