package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// Step 3: signup with rules, and forms from other origins refused.
func TestStep3BcryptLogin(t *testing.T) {
	dir := stepDir(t, "step3-bcrypt-login")
	tab := newBrowser(t)
	srv := startServer(t, buildStep(t, dir), "-bcrypt-cost", "4")

	navigate(t, tab, srv.URL+"/")
	wantSignedOut(t, tab, "first visit")
	screenshot(t, tab, "step3-home-anonymous")

	// The login form has a Sign up button; a refused signup names
	// every rule it broke, on an error page.
	fill(t, tab, "username", "alice", "password", "short")
	if st := click(t, tab, "signup"); st != http.StatusBadRequest {
		t.Errorf("signup with a 5-byte password: status %d, want 400", st)
	}
	wantError(t, tab, "password must be 8 to 72 bytes")
	navigate(t, tab, srv.URL+"/")
	fill(t, tab, "username", "a!", "password", "short")
	if st := click(t, tab, "signup"); st != http.StatusBadRequest {
		t.Errorf("signup as %q: status %d, want 400", "a!", st)
	}
	wantError(t, tab, "username must be 3 to 32")
	wantError(t, tab, "password must be 8 to 72 bytes")
	screenshot(t, tab, "step3-signup-error")
	navigate(t, tab, srv.URL+"/")

	fill(t, tab, "username", "Alice", "password", "a long enough passphrase")
	click(t, tab, "signup")
	wantSignedIn(t, tab, "alice", "after signup (as Alice: usernames are case-folded)")
	screenshot(t, tab, "step3-home-signed-in")

	// Signed out and in again, through the login form.
	click(t, tab, "logout")
	wantSignedOut(t, tab, "after logout")
	if st := login(t, tab, srv.URL, "alice", "wrong password"); st != http.StatusUnauthorized {
		t.Errorf("login with a wrong password: status %d, want 401", st)
	}
	wantSignedOut(t, tab, "after a wrong password")
	login(t, tab, srv.URL, "alice", "a long enough passphrase")
	wantSignedIn(t, tab, "alice", "after login")

	// Cross-origin request forgery: a page on the same host but another
	// port is another origin of the same site, so SameSite=Lax still sends
	// the session cookie with its form. The app must refuse it itself.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Win a prize</title>
<form id="f" method="post" action="%s/logout"></form>
<script>document.getElementById("f").submit()</script>`, srv.URL)
	}))
	defer evil.Close()
	net := recordNetwork(t, tab)
	navigate(t, tab, evil.URL)
	req := net.wait(t, "POST", srv.URL+"/logout")
	if !slices.Contains(req.Cookies, sessionCookie) {
		t.Errorf("the forged POST carried the cookies %q: the browser should have sent the session cookie (same site), which is why SameSite=Lax is not enough", req.Cookies)
	}
	if req.Status != http.StatusForbidden {
		t.Errorf("POST /logout from %s: status %d, want 403 (the browser sent Origin: %v, Sec-Fetch-Site: %v)",
			evil.URL, req.Status, req.Headers["Origin"], req.Headers["Sec-Fetch-Site"])
	}
	navigate(t, tab, srv.URL+"/")
	wantSignedIn(t, tab, "alice", "after another origin's page posted to /logout")
}

// wantError fails unless the page shows an error (#error) that contains want.
func wantError(t *testing.T, tab context.Context, want string) {
	t.Helper()
	if got := page(t, tab).Error; !strings.Contains(got, want) {
		t.Fatalf("#error = %q, want it to contain %q%s", got, want, describe(tab))
	}
}
