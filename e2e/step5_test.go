package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Step 5: sessions in Redis, shared by two instances of the app; when Redis
// is down the app says so, and it recovers by itself when Redis is back.
func TestStep5Redis(t *testing.T) {
	dir := stepDir(t, "step5-redis")
	tab := newBrowser(t)
	redis := startRedis(t)
	bin := buildStep(t, dir)
	// Two instances, as behind a load balancer: same Redis, same user
	// database, same SESSION_SECRET (startServer sets it).
	args := []string{"-bcrypt-cost", "4", "-db", filepath.Join(t.TempDir(), "app.db"), "-redis", redis.URL()}
	a := startServer(t, bin, args...)
	b := startServer(t, bin, args...)
	const password = "a long enough passphrase"

	navigate(t, tab, a.URL+"/")
	wantSignedOut(t, tab, "first visit")
	screenshot(t, tab, "step5-home-anonymous")
	signup(t, tab, a.URL, "alice", password)

	// Cookies belong to the host, not the port: the browser sends instance
	// A's cookie to instance B, and B finds the session in Redis.
	if st := navigate(t, tab, b.URL+"/"); st != http.StatusOK {
		t.Fatalf("instance B: status %d", st)
	}
	wantSignedIn(t, tab, "alice", "on instance B, after signing up on A")
	screenshot(t, tab, "step5-home-signed-in")
	click(t, tab, "sessions-link")
	if rows := sessionRows(t, tab); len(rows) != 1 || !rows[0].Current {
		t.Errorf("instance B's sessions page lists %q, want one session, marked as this browser's", rowTexts(rows))
	}
	screenshot(t, tab, "step5-sessions")

	// Redis goes away while alice looks at the home page, and she signs
	// out. The app cannot delete the session: 503. The browser drops the
	// cookie all the same, so that whoever signs out on a shared computer
	// does not stay signed in there (issue 12).
	navigate(t, tab, b.URL+"/")
	kept, _ := cookie(t, tab, b.URL, sessionCookie)
	redis.Stop()
	if st := click(t, tab, "logout"); st != http.StatusServiceUnavailable {
		t.Errorf("sign out with Redis down: status %d, want 503", st)
	}
	if _, ok := cookie(t, tab, b.URL, sessionCookie); ok {
		t.Error("after signing out with Redis down, the browser still holds its session cookie")
	}

	// A copy of the cookie (the session is still in Redis): the app must
	// not sign anybody in, nor crash, nor show a bare 500; it says the
	// service is unavailable.
	if kept == nil {
		t.Fatal("no session cookie before the outage")
	}
	setCookie(t, tab, b.URL, sessionCookie, kept.Value, true)
	for _, srv := range []*server{a, b} {
		st := navigate(t, tab, srv.URL+"/")
		p := page(t, tab)
		if st != http.StatusServiceUnavailable {
			t.Errorf("%s/ with Redis down: status %d, want 503", srv.URL, st)
		}
		if !strings.Contains(strings.ToLower(p.Text), "temporarily unavailable") {
			t.Errorf("%s/ with Redis down shows %q: want a page that says sessions are temporarily unavailable", srv.URL, p.Text)
		}
		if p.SignedIn != "" || p.LoginForm {
			t.Errorf("%s/ with Redis down shows #signed-in = %q, login form = %v: want neither", srv.URL, p.SignedIn, p.LoginForm)
		}
	}
	screenshot(t, tab, "step5-unavailable")

	// Redis is back (empty: it keeps nothing on disk), the apps were not
	// restarted: signing in works again, on both.
	redis.Start()
	if st := login(t, tab, a.URL, "alice", password); st != http.StatusOK {
		t.Fatalf("login on A after Redis came back: status %d", st)
	}
	wantSignedIn(t, tab, "alice", "on A, after Redis came back and a new login")
	navigate(t, tab, b.URL+"/")
	wantSignedIn(t, tab, "alice", "on B, after Redis came back and a new login on A")
}
