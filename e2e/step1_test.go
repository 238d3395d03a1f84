package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Step 1: a plain cookie anyone can edit, and a sealed one nobody can.
func TestStep1Cookies(t *testing.T) {
	dir := stepDir(t, "step1-cookies")
	tab := newBrowser(t)
	srv := startServer(t, buildStep(t, dir))

	navigate(t, tab, srv.URL+"/")
	wantSignedOut(t, tab, "first visit")
	screenshot(t, tab, "step1-home-anonymous")

	// The counter lives in the plain `visits` cookie and goes up on reload.
	navigate(t, tab, srv.URL+"/visits")
	if got := page(t, tab).Visits; got != "1" {
		t.Fatalf("first visit: #visits = %q, want 1", got)
	}
	reload(t, tab)
	if got := page(t, tab).Visits; got != "2" {
		t.Fatalf("after reload: #visits = %q, want 2", got)
	}
	if dc := documentCookie(t, tab); !strings.Contains(dc, "visits=2") {
		t.Fatalf("document.cookie = %q: the page's scripts should see the plain visits=2 cookie", dc)
	}

	// The lesson: any script (or person with developer tools) can rewrite
	// it, and the server believes the new count.
	do(t, tab, "edit the visits cookie", evalVoid(`document.cookie = "visits=41; path=/; secure; samesite=lax"`))
	reload(t, tab)
	if got := page(t, tab).Visits; got != "42" {
		t.Fatalf("after setting visits=41 in document.cookie and reloading: #visits = %q, want 42", got)
	}
	screenshot(t, tab, "step1-visits")

	if st := login(t, tab, srv.URL, "alice", "wonderland"); st != http.StatusOK {
		t.Fatalf("login: the page after the form has status %d, want 200", st)
	}
	wantSignedIn(t, tab, "alice", "after login")
	screenshot(t, tab, "step1-home-signed-in")

	// HttpOnly: the browser holds the session cookie and sends it (the
	// reload below is still signed in), but no script can read it.
	sess, ok := cookie(t, tab, srv.URL, sessionCookie)
	if !ok {
		t.Fatal("no session cookie in the browser after login")
	}
	if dc := documentCookie(t, tab); strings.Contains(dc, "session=") {
		t.Errorf("document.cookie holds the cookies %q: the session cookie is visible to scripts (not HttpOnly)", cookieNames(dc))
	}
	if strings.Contains(sess.Value, "alice") {
		t.Errorf("the session cookie shows the username in clear: %q", sess.Value)
	}
	reload(t, tab)
	wantSignedIn(t, tab, "alice", "after reload")

	// A forged session cookie is turned away: a made-up one, and the real
	// one with one character changed.
	setCookie(t, tab, srv.URL, sessionCookie, "alice", true)
	reload(t, tab)
	wantSignedOut(t, tab, `with session cookie "alice"`)
	setCookie(t, tab, srv.URL, sessionCookie, tamper(sess.Value), true)
	reload(t, tab)
	wantSignedOut(t, tab, "with a tampered session cookie")

	// The weakness that step 2 fixes: the server keeps nothing, so a copy of
	// the cookie taken before logout still signs in after it.
	setCookie(t, tab, srv.URL, sessionCookie, sess.Value, true)
	reload(t, tab)
	wantSignedIn(t, tab, "alice", "with the real cookie put back")
	click(t, tab, "logout")
	wantSignedOut(t, tab, "after logout")
	setCookie(t, tab, srv.URL, sessionCookie, sess.Value, true)
	reload(t, tab)
	wantSignedIn(t, tab, "alice", "step 1's known weakness: a cookie copied before logout, replayed after it")
}

// cookieNames lists the names in a document.cookie string, leaving out the
// values: a test's output is no place for a session cookie either.
func cookieNames(documentCookie string) []string {
	var names []string
	for _, c := range strings.Split(documentCookie, ";") {
		name, _, _ := strings.Cut(strings.TrimSpace(c), "=")
		names = append(names, name)
	}
	return names
}

// tamper changes one character in the middle of a cookie value, keeping it
// in the same alphabet.
func tamper(v string) string {
	if v == "" {
		return "x"
	}
	i := len(v) / 2
	c := byte('A')
	if v[i] == 'A' {
		c = 'B'
	}
	return v[:i] + string(c) + v[i+1:]
}
