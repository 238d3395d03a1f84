package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Step 3: signup with rules, and forms from other origins refused.
func TestStep3BcryptLogin(t *testing.T) {
	dir := stepDir(t, "step3-bcrypt-login")
	tab := newBrowser(t)
	srv := startServer(t, buildStep(t, dir), "-bcrypt-cost", "4")

	navigate(t, tab, srv.URL+"/")
	wantSignedOut(t, tab, "first visit")
	screenshot(t, tab, "step3-home-anonymous")

	// A broken rule is explained next to the field that broke it, and the
	// page keeps what was typed.
	click(t, tab, "signup-link")
	fill(t, tab, "username", "alice", "password", "short")
	if st := click(t, tab, "signup"); st != http.StatusBadRequest {
		t.Errorf("signup with a 5-byte password: status %d, want 400", st)
	}
	wantFieldError(t, tab, "password", "8")
	screenshot(t, tab, "step3-signup-error")
	fill(t, tab, "username", "a!", "password", "a long enough passphrase")
	if st := click(t, tab, "signup"); st != http.StatusBadRequest {
		t.Errorf("signup as %q: status %d, want 400", "a!", st)
	}
	wantFieldError(t, tab, "username", "")

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

// wantFieldError fails unless the page shows an error for the field with that
// id, right below or beside it, whose text contains want.
func wantFieldError(t *testing.T, tab context.Context, field, want string) {
	t.Helper()
	type fieldError struct {
		Text     string  `json:"text"`
		Distance float64 `json:"distance"` // from the field's bottom edge to the error's top, in CSS pixels
	}
	js := fmt.Sprintf(`(() => {
		const f = document.getElementById(%[1]q), e = document.getElementById(%[1]q + "-error");
		if (!f || !e) return {text: "", distance: -1};
		return {text: e.textContent.trim(), distance: e.getBoundingClientRect().top - f.getBoundingClientRect().bottom};
	})()`, field)
	got := run(t, tab, "read the error of #"+field, chromedp.Evaluate[fieldError](js))
	if got.Text == "" || !strings.Contains(got.Text, want) {
		t.Fatalf("#%s-error = %q, want an error about the %s containing %q%s", field, got.Text, field, want, describe(tab))
	}
	if got.Distance < -5 || got.Distance > 60 {
		t.Errorf("the error of #%s is %.0fpx from the field: not next to it", field, got.Distance)
	}
}
