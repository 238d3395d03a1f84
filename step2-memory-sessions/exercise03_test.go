//go:build exercise

package main

import (
	"net/url"
	"strings"
	"testing"
)

// Exercise 03 (EXERCISES.md): after a browser login, the home page greets
// the user once with a flash message; a reload no longer shows it.
func TestExercise03_WelcomeFlashShowsOnce(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts)
	wantStatus(t, c.postForm("/login", url.Values{"username": {"alice"}, "password": {"wonderland"}}), 303)
	html := map[string]string{"Accept": "text/html"}
	first := c.do("GET", "/", nil, html)
	if !strings.Contains(first.Body, "Welcome back, alice!") {
		t.Fatalf("sent: POST /login (form, alice), then GET /\ngot a home page without the greeting:\n%s\nwant: it to contain \"Welcome back, alice!\"", first.Body)
	}
	second := c.do("GET", "/", nil, html)
	if strings.Contains(second.Body, "Welcome back, alice!") {
		t.Fatalf("sent: GET / a second time\ngot:  the greeting again\nwant: a flash shows once, then it is gone")
	}
	if !strings.Contains(second.Body, "Signed in as alice") {
		t.Fatalf("the second GET / is not signed in any more:\n%s", second.Body)
	}
}
