//go:build exercise

package main

import (
	"testing"
	"time"
)

// Exercise 03 (EXERCISES.md): a -max-lifetime flag sets how long a sign-in
// lasts: the cookie's Max-Age, /me's expires_at, and the server's own
// check, which refuses a cookie from a sign-in older than that, whatever the
// browser keeps.
func TestExercise03_MaxLifetimeFlag(t *testing.T) {
	ts := startServer(t, map[string]string{"SESSION_SECRET": testSecret}, "-max-lifetime", "1h")
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

	// Cookies sealed with the server's secret, as a browser that kept one
	// from an earlier sign-in would send them: the server checks the sign-in
	// time inside, not the cookie's Max-Age, which only the browser obeys.
	sealed := func(age time.Duration) string {
		return sealData(t, testSecret, map[any]any{userKey: "alice"}, time.Now().Add(-age))
	}
	c.setSessionCookie(sealed(30 * time.Minute))
	if got := c.whoami(); got != "alice" {
		t.Fatalf("sent: GET /me with a cookie sealed by the server 30m after a sign-in, to a server started with -max-lifetime 1h\ngot:  /me = %q\nwant: alice: the sign-in has 30m left", got)
	}
	c.setSessionCookie(sealed(2 * time.Hour))
	if got := c.whoami(); got != "" {
		t.Fatalf("sent: GET /me with a cookie sealed by the server 2h after a sign-in, to a server started with -max-lifetime 1h\ngot:  /me = %q\nwant: 401: the server refuses a sign-in older than -max-lifetime, whatever the browser keeps", got)
	}
}

// Without the flag, a sign-in lasts as long as it does today (maxLifetime).
func TestExercise03_MaxLifetimeDefault(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts)
	if ck := setCookie(c.login("alice", "wonderland")); ck == nil || ck.MaxAge != int(maxLifetime.Seconds()) {
		t.Fatalf("without -max-lifetime the cookie is %v, want Max-Age=%d (maxLifetime)", ck, int(maxLifetime.Seconds()))
	}
}
