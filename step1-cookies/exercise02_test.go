//go:build exercise

package main

import (
	"testing"
	"time"
)

// Exercise 02 (EXERCISES.md): a -max-lifetime flag sets how long a sign-in
// lasts: the cookie's Max-Age, the server's own check, and /me's expires_at.
func TestExercise02_MaxLifetimeFlag(t *testing.T) {
	ts := startServer(t, nil, "-max-lifetime", "1h")
	c := newClient(t, ts)
	r := c.login("alice", "wonderland")
	wantStatus(t, r, 200)
	if ck := setCookie(r); ck == nil || ck.MaxAge != 3600 {
		t.Fatalf("sent: POST /login to a server started with -max-lifetime 1h\ngot:  Set-Cookie %q\nwant: Max-Age=3600", r.Header.Get("Set-Cookie"))
	}
	me := c.get("/me").json(t)
	created := must(time.Parse(time.RFC3339, me["created_at"].(string)))
	expires := must(time.Parse(time.RFC3339, me["expires_at"].(string)))
	if d := expires.Sub(created); d != time.Hour {
		t.Fatalf("sent: GET /me\ngot:  expires_at - created_at = %v\nwant: 1h", d)
	}
}

// Without the flag, a sign-in still lasts 24 hours.
func TestExercise02_MaxLifetimeDefault(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts)
	if ck := setCookie(c.login("alice", "wonderland")); ck == nil || ck.MaxAge != 86400 {
		t.Fatalf("without -max-lifetime the cookie's Max-Age is %v, want 86400", ck)
	}
}
