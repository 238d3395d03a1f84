//go:build exercise

package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Exercise 03 (EXERCISES.md): a "remember me" choice at login, a field
// remember that is "on" when ticked (a form's checkbox, or JSON). Ticked,
// the session cookie keeps its Max-Age; not ticked, it is a cookie for this
// browser session only (no Max-Age, no Expires). Either way the server
// keeps the same deadlines: /me's expires_at does not change.
func TestExercise03_RememberMe(t *testing.T) {
	ts := startServer(t, nil, "-idle-timeout", "1h", "-max-lifetime", "2h")
	signUpUsers(t, ts)

	type login struct {
		name     string
		send     func(c *client) response
		remember bool
	}
	for _, l := range []login{
		{"JSON with \"remember\": \"on\"", func(c *client) response {
			return c.postJSON("/login", map[string]string{"username": "alice", "password": "wonderland", "remember": "on"})
		}, true},
		{"JSON without \"remember\"", func(c *client) response {
			return c.postJSON("/login", map[string]string{"username": "alice", "password": "wonderland"})
		}, false},
		{"a form with the box ticked (remember=on)", func(c *client) response {
			return c.postForm("/login", url.Values{"username": {"alice"}, "password": {"wonderland"}, "remember": {"on"}})
		}, true},
		{"a form without the box", func(c *client) response {
			return c.postForm("/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
		}, false},
	} {
		c := newClient(t, ts)
		r := l.send(c)
		if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sent: POST /login, %s\ngot:  %d %s\nwant: a sign-in", l.name, r.StatusCode, strings.TrimSpace(r.Body))
		}
		ck := sessionSetCookie(r)
		if ck == nil {
			t.Fatalf("sent: POST /login, %s\ngot:  no session cookie (Set-Cookie: %q)", l.name, r.Header.Values("Set-Cookie"))
		}
		raw := r.Header.Get("Set-Cookie")
		if l.remember && ck.MaxAge != int((2*time.Hour).Seconds()) {
			t.Errorf("sent: POST /login, %s, to a server started with -max-lifetime 2h\ngot:  Set-Cookie %q\nwant: Max-Age=7200, as today: the browser keeps the cookie when it restarts", l.name, raw)
		}
		if !l.remember && (ck.MaxAge != 0 || !ck.Expires.IsZero()) {
			t.Errorf("sent: POST /login, %s\ngot:  Set-Cookie %q\nwant: no Max-Age and no Expires: a cookie that the browser forgets when it closes", l.name, raw)
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
			t.Errorf("sent: POST /login, %s\ngot:  Set-Cookie %q\nwant: HttpOnly, SameSite=Lax, Path=/ whatever the choice", l.name, raw)
		}
		me := c.get("/me")
		wantStatus(t, me, http.StatusOK)
		m := me.json(t)
		created := must(time.Parse(time.RFC3339, m["created_at"].(string)))
		expires := must(time.Parse(time.RFC3339, m["expires_at"].(string)))
		if d := expires.Sub(created); d != time.Hour {
			t.Errorf("sent: POST /login, %s, to a server started with -idle-timeout 1h -max-lifetime 2h, then GET /me\ngot:  expires_at - created_at = %v\nwant: 1h: the choice changes the cookie only, never the server's deadlines", l.name, d)
		}
	}

	// The box belongs to the home page's form that posts to /login (its
	// Sign up button sends the same form to /signup).
	page := newClient(t, ts).do("GET", "/", nil, map[string]string{"Accept": "text/html"})
	_, loginForm, _ := strings.Cut(page.Body, `action="/login"`)
	loginForm, _, _ = strings.Cut(loginForm, "</form>")
	if !strings.Contains(loginForm, `type="checkbox"`) || !strings.Contains(loginForm, `name="remember"`) {
		t.Errorf("sent: GET / (Accept: text/html), anonymous\ngot:  a login form without a checkbox named remember\nwant: <input type=\"checkbox\" name=\"remember\" ...> in the form that posts to /login")
	}
}

// sessionSetCookie is the response's Set-Cookie that holds the session: the
// one that is HttpOnly (the step names it; this test does not guess how).
func sessionSetCookie(r response) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name != "visits" && c.Value != "" {
			return c
		}
	}
	return nil
}
