package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
)

// Step 2: the cookie holds only an id; who you are lives on the server.
func TestStep2MemorySessions(t *testing.T) {
	dir := stepDir(t, "step2-memory-sessions")
	tab := newBrowser(t)
	srv := startServer(t, buildStep(t, dir))

	navigate(t, tab, srv.URL+"/")
	wantSignedOut(t, tab, "first visit")
	screenshot(t, tab, "step2-home-anonymous")

	// The visits page gives an anonymous visitor a session, and counts in it.
	navigate(t, tab, srv.URL+"/visits")
	if got := page(t, tab).Visits; got != "1" {
		t.Fatalf("first visit: #visits = %q, want 1", got)
	}
	reload(t, tab)
	if got := page(t, tab).Visits; got != "2" {
		t.Fatalf("after reload: #visits = %q, want 2", got)
	}
	screenshot(t, tab, "step2-visits")
	before, ok := cookie(t, tab, srv.URL, sessionCookie)
	if !ok {
		t.Fatal("no session cookie after /visits: the anonymous session is not in a cookie")
	}

	if st := login(t, tab, srv.URL, "alice", "wonderland"); st != http.StatusOK {
		t.Fatalf("login: the page after the form has status %d, want 200", st)
	}
	wantSignedIn(t, tab, "alice", "after login")
	screenshot(t, tab, "step2-home-signed-in")

	// New id at login: the id the browser had before is worth nothing now.
	after, ok := cookie(t, tab, srv.URL, sessionCookie)
	if !ok {
		t.Fatal("no session cookie after login")
	}
	if after.Value == before.Value {
		t.Error("the session cookie after login is the one from before login: no new id at login (session fixation)")
	}
	if !after.HTTPOnly || !after.Secure || after.SameSite != network.CookieSameSiteLax || after.Path != "/" {
		t.Errorf("session cookie: HttpOnly=%v Secure=%v SameSite=%q Path=%q; want HttpOnly, Secure, Lax, /",
			after.HTTPOnly, after.Secure, after.SameSite, after.Path)
	}
	if _, ok := cookie(t, tab, srv.URL, "session"); ok {
		t.Error("the browser holds a cookie named plain \"session\": want only " + sessionCookie)
	}

	// The browser sends __Host-session back over plain http://127.0.0.1: the
	// reload below is signed in only through it.
	log := recordNetwork(t, tab)
	if st := reload(t, tab); st != http.StatusOK {
		t.Fatalf("reload while signed in: status %d", st)
	}
	if req := log.wait(t, "GET", srv.URL+"/"); !slices.Contains(req.Cookies, sessionCookie) {
		t.Errorf("the reload sent the cookies %q, want %s among them", req.Cookies, sessionCookie)
	}
	wantSignedIn(t, tab, "alice", "after reload")

	// A signed-in page at another address than the one logout ends on, so
	// that the browser's cache cannot have replaced it with a signed-out copy.
	click(t, tab, "nav-visits")
	if p := page(t, tab); p.Who != "alice" {
		t.Fatalf("visits page while signed in: #who = %q, want alice", p.Who)
	}
	click(t, tab, "nav-home")
	click(t, tab, "logout")
	wantSignedOut(t, tab, "after logout")
	if _, ok := cookie(t, tab, srv.URL, sessionCookie); ok {
		t.Error("the browser still holds a session cookie after logout")
	}

	// Back to the signed-in visits page: it was sent with Cache-Control:
	// no-store, so the browser must ask the server again, which now answers
	// for an anonymous visitor, instead of showing the old page from its
	// cache.
	goBack(t, tab, 2)
	if p := page(t, tab); p.Who != "" || strings.Contains(p.Text, "alice") || !strings.HasSuffix(p.URL, "/visits") {
		t.Fatalf("Back after logout shows %s with #who = %q: want the visits page without alice (a cached signed-in page?)\n%s", p.URL, p.Who, p.Text)
	}

	// Logout deleted the session on the server: the cookie copied while
	// signed in, put back into the browser, signs nobody in (step 1 could
	// not do that).
	setCookie(t, tab, srv.URL, sessionCookie, after.Value, true)
	navigate(t, tab, srv.URL+"/")
	wantSignedOut(t, tab, "with the cookie from before logout put back")
}
