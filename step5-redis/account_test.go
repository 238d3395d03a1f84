package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/crypto/bcrypt"
)

// Tests of what step 4 adds for the signed-in user: GET /sessions,
// POST /logout-all and POST /password.

// signInFrom signs user in from a new client whose browser says agent: the
// store keeps the User-Agent of the request that made the session.
func signInFrom(t *testing.T, ts *testServer, user, password, agent string) *client {
	t.Helper()
	c := newClient(t, ts)
	body := `{"username":"` + user + `","password":"` + password + `"}`
	r := c.do("POST", "/login", strings.NewReader(body), map[string]string{"Content-Type": "application/json", "User-Agent": agent})
	wantStatus(t, r, http.StatusOK)
	return c
}

func TestSessionsList(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	laptop := signInFrom(t, ts, "alice", "wonderland", "Laptop-Browser/1.0")
	phone := signInFrom(t, ts, "alice", "wonderland", "Phone-Browser/2.0")
	signInFrom(t, ts, "bob", "the-builder", "Bob-Browser/3.0")

	r := phone.get("/sessions")
	wantStatus(t, r, http.StatusOK)
	m := r.json(t)
	list, _ := m["sessions"].([]any)
	// Three: the sign-up's, the laptop's and the phone's.
	if m["user"] != "alice" || len(list) != 3 {
		t.Fatalf("/sessions = %s, want alice's 3 sessions", r.Body)
	}
	current, agents := 0, map[string]bool{}
	for _, item := range list {
		s := item.(map[string]any)
		for _, key := range []string{"created_at", "last_seen"} {
			// RFC 3339 in UTC, to the second, as /me.
			if v, _ := s[key].(string); v == "" || must(time.Parse(time.RFC3339, v)).UTC().Format(time.RFC3339) != v {
				t.Errorf("a session's %s is not an RFC 3339 UTC time to the second: %v", key, s)
			}
		}
		agents[s["user_agent"].(string)] = true
		if s["current"] == true {
			current++
			if s["user_agent"] != "Phone-Browser/2.0" {
				t.Errorf("the current session is %v, want the phone's", s["user_agent"])
			}
		}
	}
	if current != 1 || !agents["Laptop-Browser/1.0"] || agents["Bob-Browser/3.0"] {
		t.Errorf("%d sessions are marked current (want 1), browsers %v (want the laptop's, not bob's)", current, agents)
	}

	page := phone.do("GET", "/sessions", nil, map[string]string{"Accept": "text/html"})
	wantStatus(t, page, http.StatusOK)
	for _, want := range []string{"Laptop-Browser/1.0", "Phone-Browser/2.0", "this browser", `action="/logout-all"`, `action="/password"`, `name="current_password"`, `name="new_password"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the sessions page lacks %q:\n%s", want, page.Body)
		}
	}
	for _, c := range []*client{laptop, phone} {
		for _, body := range []string{r.Body, page.Body} {
			if strings.Contains(body, c.sessionCookie()) || strings.Contains(body, "Bob-Browser") {
				t.Errorf("/sessions shows a cookie or another user's session:\n%s", body)
			}
		}
	}
	home := phone.do("GET", "/", nil, map[string]string{"Accept": "text/html"})
	if !strings.Contains(home.Body, `href="/sessions"`) {
		t.Errorf("the home page of a signed-in user does not link to /sessions:\n%s", home.Body)
	}

	wantStatus(t, newClient(t, ts).get("/sessions"), http.StatusUnauthorized)
}

// The ids never show, even to a test that knows the secret.
func TestSessionsListShowsNoID(t *testing.T) {
	ts := startServer(t, map[string]string{"SESSION_SECRET": testSecret})
	signUpUsers(t, ts)
	c := signInFrom(t, ts, "alice", "wonderland", "Test/1.0")
	id, ok := decodeWith(t, testSecret, c.sessionCookie())
	if !ok {
		t.Fatal("the cookie does not verify with the test secret")
	}
	for _, accept := range []string{"application/json", "text/html"} {
		body := c.do("GET", "/sessions", nil, map[string]string{"Accept": accept}).Body
		if strings.Contains(body, id) || strings.Contains(body, c.sessionCookie()) {
			t.Errorf("/sessions (%s) shows the session id:\n%s", accept, body)
		}
	}
}

// sessionHandles is what /sessions shows c: the handle of each session, by
// its user agent.
func sessionHandles(t *testing.T, c *client) map[string]string {
	t.Helper()
	r := c.get("/sessions")
	wantStatus(t, r, http.StatusOK)
	handles := map[string]string{}
	for _, item := range r.json(t)["sessions"].([]any) {
		s := item.(map[string]any)
		id, _ := s["id"].(string)
		if id == "" {
			t.Fatalf("/sessions shows a session without an id: %s", r.Body)
		}
		handles[s["user_agent"].(string)] = id
	}
	return handles
}

// POST /sessions/revoke ends one chosen session of the user (issue 12: the
// only remedy was ending all of them): another browser's, whose cookie then
// gets 401; never another user's (404); this browser's own is a logout.
func TestRevokeOneSession(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	laptop := signInFrom(t, ts, "alice", "wonderland", "Laptop/1.0")
	phone := signInFrom(t, ts, "alice", "wonderland", "Phone/1.0")
	tablet := signInFrom(t, ts, "alice", "wonderland", "Tablet/1.0")
	bob := signInFrom(t, ts, "bob", "the-builder", "Bob/1.0")
	handles := sessionHandles(t, laptop)
	revoke := func(c *client, handle string) response {
		t.Helper()
		return c.postJSON("/sessions/revoke", map[string]string{"id": handle})
	}

	// The handle is no cookie.
	thief := newClient(t, ts)
	thief.setSessionCookie(handles["Phone/1.0"])
	if got := thief.whoami(); got != "" {
		t.Fatalf("a handle from /sessions, sent as the cookie, signs in as %q", got)
	}

	wantStatus(t, revoke(laptop, handles["Phone/1.0"]), http.StatusOK)
	if got := phone.whoami(); got != "" {
		t.Errorf("the revoked phone is still signed in as %q", got)
	}
	if _, listed := sessionHandles(t, laptop)["Phone/1.0"]; listed {
		t.Error("/sessions still lists the revoked session")
	}
	wantStatus(t, revoke(laptop, handles["Phone/1.0"]), http.StatusNotFound)

	// Another user's session, or no session at all: 404, and nothing ends.
	bobs := sessionHandles(t, bob)["Bob/1.0"]
	for _, handle := range []string{bobs, "", "not-a-handle", strings.Repeat("0", 64), laptop.sessionCookie()} {
		if r := revoke(laptop, handle); r.StatusCode != http.StatusNotFound {
			t.Errorf("revoke %q: %d, want 404\n%s", handle, r.StatusCode, r.Body)
		}
	}
	if bob.whoami() != "bob" || tablet.whoami() != "alice" || laptop.whoami() != "alice" {
		t.Fatal("a refused revoke signed a session out")
	}
	wantStatus(t, revoke(newClient(t, ts), handles["Tablet/1.0"]), http.StatusUnauthorized)

	// From the sessions page: a form per session, back to the page.
	page := laptop.do("GET", "/sessions", nil, map[string]string{"Accept": "text/html"})
	if !strings.Contains(page.Body, `action="/sessions/revoke"`) || !strings.Contains(page.Body, `value="`+handles["Tablet/1.0"]+`"`) {
		t.Errorf("the sessions page has no revoke form for the tablet:\n%s", page.Body)
	}
	r := laptop.postForm("/sessions/revoke", url.Values{"id": {handles["Tablet/1.0"]}})
	wantStatus(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != "/sessions" || tablet.whoami() != "" {
		t.Errorf("form revoke: Location %q, tablet still signed in: %v", r.Header.Get("Location"), tablet.whoami() != "")
	}

	// This browser's own session: a logout.
	r = revoke(laptop, handles["Laptop/1.0"])
	wantStatus(t, r, http.StatusOK)
	wantCookieForgotten(t, r.Response, "revoking this browser's session")
	if got := laptop.whoami(); got != "" {
		t.Errorf("after revoking its own session the laptop is signed in as %q", got)
	}
	if got := bob.whoami(); got != "bob" {
		t.Errorf("alice's revokes signed bob out (/me = %q)", got)
	}
}

// logout-all from one browser signs the user out of every browser, this one
// included, and nobody else.
func TestLogoutAll(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	b := signInFrom(t, ts, "alice", "wonderland", "B")
	bob := signInFrom(t, ts, "bob", "the-builder", "C")
	copied := newClient(t, ts)
	copied.setSessionCookie(a.sessionCookie())

	r := a.do("POST", "/logout-all", nil, jsonHeaders)
	wantStatus(t, r, http.StatusOK)
	if ck := setCookie(r); ck == nil || !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout-all Set-Cookie = %q, want the cookie expired", r.Header.Get("Set-Cookie"))
	}
	if got := r.Header.Get("Clear-Site-Data"); got != `"cookies"` {
		t.Errorf("logout-all Clear-Site-Data = %q", got)
	}
	for name, c := range map[string]*client{"this browser": a, "the other browser": b, "a copied cookie": copied} {
		if got := c.whoami(); got != "" {
			t.Errorf("after logout-all, %s is still signed in as %q", name, got)
		}
	}
	if got := bob.whoami(); got != "bob" {
		t.Errorf("alice's logout-all signed bob out (/me = %q)", got)
	}

	// From a browser: a form, and back to the home page.
	c := signInFrom(t, ts, "alice", "wonderland", "D")
	r = c.postForm("/logout-all", nil)
	wantStatus(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != "/" || c.whoami() != "" {
		t.Errorf("form logout-all: Location %q, still signed in: %v", r.Header.Get("Location"), c.whoami() != "")
	}

	wantStatus(t, newClient(t, ts).do("POST", "/logout-all", nil, jsonHeaders), http.StatusUnauthorized)
	wantStatus(t, a.get("/logout-all"), http.StatusMethodNotAllowed)
}

func (c *client) changePassword(current, next string) response {
	c.t.Helper()
	return c.postJSON("/password", map[string]string{"current_password": current, "new_password": next})
}

// A password change signs out every other session of the user and gives
// this one a new id.
func TestPasswordChange(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	b := signInFrom(t, ts, "alice", "wonderland", "B")
	bob := signInFrom(t, ts, "bob", "the-builder", "C")
	before := a.sessionCookie()
	copied := newClient(t, ts)
	copied.setSessionCookie(before)

	r := a.changePassword("wonderland", "looking-glass")
	wantStatus(t, r, http.StatusOK)
	if r.json(t)["user"] != "alice" {
		t.Errorf("POST /password answered %s", r.Body)
	}
	if ck := setCookie(r); ck == nil || ck.Value == before || ck.Value == "" {
		t.Fatal("the password change did not give this session a new id")
	}
	if got := a.whoami(); got != "alice" {
		t.Fatalf("after the change this browser is signed in as %q, want alice", got)
	}
	for name, c := range map[string]*client{"the other browser": b, "the old cookie of this one": copied} {
		if got := c.whoami(); got != "" {
			t.Errorf("after the change %s is still signed in as %q", name, got)
		}
	}
	if got := bob.whoami(); got != "bob" {
		t.Errorf("alice's password change signed bob out")
	}
	if list := a.get("/sessions").json(t)["sessions"].([]any); len(list) != 1 {
		t.Errorf("after the change alice has %d sessions, want 1", len(list))
	}
	wantStatus(t, newClient(t, ts).login("alice", "wonderland"), http.StatusUnauthorized)
	wantStatus(t, newClient(t, ts).login("alice", "looking-glass"), http.StatusOK)

	// From a browser (the form is on the sessions page): back to the list.
	r = a.postForm("/password", url.Values{"current_password": {"looking-glass"}, "new_password": {"through-the-mirror"}})
	wantStatus(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != "/sessions" {
		t.Errorf("form password change: Location %q, want /sessions", r.Header.Get("Location"))
	}
	if got := a.whoami(); got != "alice" {
		t.Errorf("after a form change /me = %q", got)
	}
}

// A password change is never half done: while Redis refuses writes for
// three seconds (longer than the store's timeout), the change answers 503
// and nothing changed: the old password works, the new one does not, and
// the other session is still signed in once Redis is back.
func TestPasswordChangeIsNeverHalfDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, nil, "-db", path)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	b := signInFrom(t, ts, "alice", "wonderland", "B")
	must0(t, redisOf(t, path).client().Do(t.Context(), "CLIENT", "PAUSE", 3000, "WRITE").Err())

	wantStatus(t, a.changePassword("wonderland", "looking-glass"), http.StatusServiceUnavailable)
	waitUntil(t, "Redis takes writes again", func() bool {
		return redisOf(t, path).client().Set(t.Context(), "probe", 1, time.Second).Err() == nil
	})
	if got := b.whoami(); got != "alice" {
		t.Fatalf("after a failed change the other browser is signed in as %q, want alice", got)
	}
	wantStatus(t, newClient(t, ts).login("alice", "looking-glass"), http.StatusUnauthorized)
	wantStatus(t, newClient(t, ts).login("alice", "wonderland"), http.StatusOK)
}

// secondEndFails is the session store of the test below: a login that
// checked the old password makes a session right after the change's first
// end of the other sessions, and the second end fails.
type secondEndFails struct {
	*RedisStore
	ends    int
	between func()
}

func (s *secondEndFails) DeleteUserSessions(ctx context.Context, user, exceptID string) error {
	if s.ends++; s.ends == 2 {
		return errors.New("redis: write refused")
	}
	err := s.RedisStore.DeleteUserSessions(ctx, user, exceptID)
	s.between()
	return err
}

// When the second end fails, the change puts the old password back: never
// the new password beside a session that a racing login made meanwhile.
func TestPasswordChangeFailingLateKeepsTheOldPassword(t *testing.T) {
	st, _ := newTestStore(t, 30*time.Minute, 12*time.Hour)
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	store := &secondEndFails{RedisStore: st}
	hs := httptest.NewServer(newServer(st.logger, store, newSQLiteUsers(db, st.logger), newHasher(bcrypt.MinCost), newThrottle(st.client, st.prefix, true, st.logger), db))
	defer hs.Close()
	ts := &testServer{URL: hs.URL}
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	racer := newClient(t, ts).from("203.0.113.9") // another address: another lane to hash
	store.between = func() { wantStatus(t, racer.login("alice", "wonderland"), http.StatusOK) }

	wantStatus(t, a.changePassword("wonderland", "looking-glass"), http.StatusServiceUnavailable)
	if store.ends != 2 {
		t.Fatalf("the change ended the other sessions %d times, want 2 (the second failing)", store.ends)
	}
	wantStatus(t, newClient(t, ts).login("alice", "looking-glass"), http.StatusUnauthorized)
	wantStatus(t, newClient(t, ts).login("alice", "wonderland"), http.StatusOK)
}

func TestPasswordChangeRefusals(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	b := signInFrom(t, ts, "alice", "wonderland", "B")

	for _, tc := range []struct {
		name, current, next string
		want                int
		wantInError         string
	}{
		{"wrong current password", "not-wonderland", "looking-glass", 401, "incorrect"},
		{"new password too short", "wonderland", "short", 400, "8 to 72 bytes"},
		{"new password too long", "wonderland", strings.Repeat("x", 73), 400, "8 to 72 bytes"},
		{"nothing sent", "", "", 400, "8 to 72 bytes"},
	} {
		r := a.changePassword(tc.current, tc.next)
		wantStatus(t, r, tc.want)
		if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, tc.wantInError) {
			t.Errorf("%s: error %q does not say %q", tc.name, msg, tc.wantInError)
		}
		if setCookie(r) != nil {
			t.Errorf("%s: a refused change set a cookie", tc.name)
		}
	}
	if a.whoami() != "alice" || b.whoami() != "alice" {
		t.Fatal("a refused password change signed a session out")
	}
	wantStatus(t, newClient(t, ts).login("alice", "wonderland"), http.StatusOK)

	form := a.postForm("/password", url.Values{"current_password": {"guess"}, "new_password": {"looking-glass"}})
	wantStatus(t, form, http.StatusUnauthorized)
	if !strings.Contains(form.Body, "current password is incorrect") {
		t.Errorf("a refused form change does not say why:\n%s", form.Body)
	}

	wantStatus(t, newClient(t, ts).changePassword("wonderland", "looking-glass"), http.StatusUnauthorized)
	malformed := a.do("POST", "/password", strings.NewReader(`{"current_password":`), map[string]string{"Content-Type": "application/json"})
	wantStatus(t, malformed, http.StatusBadRequest)
}

// Wrong current passwords are counted as failed logins: a thief with a
// session cannot guess the password through /password faster than through
// /login, and after 5 failures the right one is refused too.
func TestPasswordChangeIsThrottled(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	for i := range maxFailures {
		wantStatus(t, a.changePassword("guess-"+string(rune('a'+i)), "looking-glass"), http.StatusUnauthorized)
	}
	r := a.changePassword("wonderland", "looking-glass")
	wantThrottled(t, r)
	wantThrottled(t, newClient(t, ts).login("alice", "wonderland"))
	if a.whoami() != "alice" {
		t.Fatal("throttling signed the session out")
	}
}

// pausePoint holds one login or password change at its password check, the
// dangerous point of both: it has read the stored hash, and is about to
// compare the password with it. Meanwhile the test runs another request.
type pausePoint struct {
	armed            atomic.Bool
	reached, release chan struct{}
}

// pauseAtPasswordCheck serves a new store with a hasher that holds, once
// the test arms it, the next password comparison (in its turn to hash,
// after the stored hash was read), until the test releases it. The
// hasher's cost is cost.
func pauseAtPasswordCheck(t *testing.T, cost int) (*pausePoint, *testServer, string) {
	h := newHasher(cost)
	p := &pausePoint{reached: make(chan struct{}), release: make(chan struct{})}
	h.compare = func(hash, password []byte) error { // after the hash was read
		if p.armed.CompareAndSwap(true, false) {
			close(p.reached)
			select {
			case <-p.release:
			case <-time.After(10 * time.Second): // a failed test never holds the server for good
			}
		}
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	ts, path := serveWith(t, h, nil)
	return p, ts, path
}

// within waits for what ch delivers, or fails the test after 10 seconds.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for %s", what)
		panic("unreachable")
	}
}

// A login that checked the old password and finishes after a password
// change has ended the user's other sessions gets no session (issue 12: an
// attacker looping logins with a stolen password, while the owner changed
// it, kept one).
func TestLoginRacingPasswordChangeGetsNoSession(t *testing.T) {
	pause, ts, _ := pauseAtPasswordCheck(t, bcrypt.MinCost)
	signUpUsers(t, ts)
	owner := signInFrom(t, ts, "alice", "wonderland", "Owner")

	thief := newClient(t, ts).from("203.0.113.9") // another address: another lane to hash
	pause.armed.Store(true)
	done := make(chan response, 1)
	go func() { done <- thief.login("alice", "wonderland") }()
	within(t, pause.reached, "the thief's login to check the password")
	wantStatus(t, owner.changePassword("wonderland", "looking-glass"), http.StatusOK)
	close(pause.release)
	r := within(t, done, "the paused login to finish")

	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the login that checked the old password answered %d after the change, want 401\n%s", r.StatusCode, r.Body)
	}
	if got := thief.whoami(); got != "" {
		t.Fatalf("the login that checked the old password is signed in as %q after the change", got)
	}
	if list := owner.get("/sessions").json(t)["sessions"].([]any); len(list) != 1 {
		t.Errorf("alice has %d sessions, want 1: the owner's", len(list))
	}
	if got := owner.whoami(); got != "alice" {
		t.Errorf("the owner is signed in as %q, want alice", got)
	}
}

// Two logins at once after -bcrypt-cost changed both check the old hash;
// one rehashes first, and the other, whose own rehash then fails, still
// signs in: a stored hash that takes the password is no password change.
func TestConcurrentRehashingLoginsBothSignIn(t *testing.T) {
	pause, ts, path := pauseAtPasswordCheck(t, bcrypt.MinCost+1)
	must0(t, newSQLiteUsers(openTestDB(t, path), slog.New(slog.DiscardHandler)).CreateUser(t.Context(), "alice",
		must(bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost))))

	slow := newClient(t, ts).from("203.0.113.9") // another address: another lane to hash
	pause.armed.Store(true)
	done := make(chan response, 1)
	go func() { done <- slow.login("alice", "wonderland") }()
	within(t, pause.reached, "the first login to check the password")
	wantStatus(t, newClient(t, ts).login("alice", "wonderland"), http.StatusOK) // rehashes first
	close(pause.release)
	if r := within(t, done, "the paused login to finish"); r.StatusCode != http.StatusOK {
		t.Fatalf("the login whose rehash came second answered %d, want 200\n%s", r.StatusCode, r.Body)
	}
	if got := slow.whoami(); got != "alice" {
		t.Fatalf("the login whose rehash came second is signed in as %q, want alice", got)
	}
}

// A password change whose client leaves while its current password is
// checked changes nothing: nobody would receive the answer, so the old
// password stays and no session ends (issue 22).
func TestGonePasswordChangeChangesNothing(t *testing.T) {
	pause, ts, path := pauseAtPasswordCheck(t, bcrypt.MinCost)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	signInFrom(t, ts, "alice", "wonderland", "B")

	pause.armed.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req := must(http.NewRequestWithContext(ctx, "POST", ts.URL+"/password",
			strings.NewReader(`{"current_password":"wonderland","new_password":"looking-glass"}`)))
		req.Header.Set("Content-Type", "application/json")
		_, err := a.http.Do(req)
		errc <- err
	}()
	within(t, pause.reached, "the change to check the password")
	cancel()
	within(t, errc, "the cancelled change to return")
	close(pause.release)
	must0(t, ts.stop()) // waits for the handler to end

	u := must(newSQLiteUsers(openTestDB(t, path), slog.New(slog.DiscardHandler)).FindUser(t.Context(), "alice"))
	if bcrypt.CompareHashAndPassword(u, []byte("wonderland")) != nil {
		t.Error("a password change whose client had left changed the password")
	}
	if n := userSessions(t, path, "alice"); n < 3 {
		t.Errorf("alice has %d sessions after a change whose client had left, want her 3 (signup, A, B)", n)
	}
}

// Two password changes checked against the same old password: one wins,
// the other gets 401, and only the winner's password works (issue 12: both
// succeeded, and the last write won).
func TestConcurrentPasswordChangesOneWins(t *testing.T) {
	pause, ts, _ := pauseAtPasswordCheck(t, bcrypt.MinCost)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	b := signInFrom(t, ts, "alice", "wonderland", "B")

	pause.armed.Store(true)
	done := make(chan response, 1)
	go func() { done <- a.from("203.0.113.9").changePassword("wonderland", "from-a-to-z") }() // another lane
	within(t, pause.reached, "A's change to check the password")
	wantStatus(t, b.changePassword("wonderland", "from-b-to-y"), http.StatusOK)
	close(pause.release)
	r := within(t, done, "A's change to finish")

	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the second change answered %d, want 401\n%s", r.StatusCode, r.Body)
	}
	for password, want := range map[string]int{"wonderland": 401, "from-a-to-z": 401, "from-b-to-y": 200} {
		if got := newClient(t, ts).login("alice", password).StatusCode; got != want {
			t.Errorf("login with %q: %d, want %d", password, got, want)
		}
	}
	if got := a.whoami(); got != "" {
		t.Errorf("A, whose change lost, is still signed in as %q", got)
	}
	if got := b.whoami(); got != "alice" {
		t.Errorf("B, whose change won, is signed in as %q, want alice", got)
	}
}

// overlapStore pauses a GET /visits between reading its session and saving
// it, so that a test can make another request in between. Everything else
// goes to the real store.
type overlapStore struct {
	sessionStore
	read, release chan struct{}
}

func (o *overlapStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s, err := o.sessionStore.Get(r, name)
	if r.URL.Path == "/visits" {
		o.read <- struct{}{}
		<-o.release
	}
	return s, err
}

// A request that read the session before a logout (or logout-all, or a
// password change) and saves after it does not bring the session back, even
// when the two run on two instances of the app.
func TestOverlappingRequestsDoNotResurrect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sever func(c *client) response
	}{
		{"logout", func(c *client) response { return c.do("POST", "/logout", nil, jsonHeaders) }},
		{"logout-all", func(c *client) response { return c.do("POST", "/logout-all", nil, jsonHeaders) }},
		{"password change", func(c *client) response { return c.changePassword("wonderland", "looking-glass") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
			rs := startRedis(t)
			secrets := [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
			// Two instances, one Redis, one database: the slow request runs
			// on A, the logout on B.
			store := &overlapStore{
				sessionStore: NewRedisStore(rs.client(), defaultRedisPrefix, newSessionCookies(secrets, true, 24*time.Hour), newLifetimes(30*time.Minute, 24*time.Hour), logger),
				read:         make(chan struct{}), release: make(chan struct{}),
			}
			hs := httptest.NewServer(newServer(logger, store, newSQLiteUsers(db, logger), newHasher(bcrypt.MinCost), newThrottle(rs.client(), defaultRedisPrefix, false, logger), db))
			defer hs.Close()
			storeB := NewRedisStore(rs.client(), defaultRedisPrefix, newSessionCookies(secrets, true, 24*time.Hour), newLifetimes(30*time.Minute, 24*time.Hour), logger)
			hsB := httptest.NewServer(newServer(logger, storeB, newSQLiteUsers(db, logger), newHasher(bcrypt.MinCost), newThrottle(rs.client(), defaultRedisPrefix, false, logger), db))
			defer hsB.Close()

			slow := newClient(t, &testServer{URL: hs.URL})
			wantStatus(t, slow.signup("alice", "wonderland"), http.StatusCreated)
			other := newClient(t, &testServer{URL: hsB.URL}) // the same session, in a second tab, on B
			other.setSessionCookie(slow.sessionCookie())

			done := make(chan response)
			go func() { done <- slow.get("/visits") }() // reads the session, then waits
			<-store.read
			wantStatus(t, tc.sever(other), http.StatusOK) // the session is deleted...
			close(store.release)                          // ...and the slow request saves
			late := <-done
			wantStatus(t, late, http.StatusOK)
			if setCookie(late) != nil {
				t.Errorf("the late save set a cookie: %q", late.Header.Get("Set-Cookie"))
			}

			n := countSessions(t, storeB)
			want := 0
			if tc.name == "password change" {
				want = 1 // the session that changed the password, under its new id
			}
			if n != want {
				t.Fatalf("%d sessions in Redis, want %d: the late save brought one back", n, want)
			}
			if got := slow.whoami(); got != "" {
				t.Fatalf("the deleted session is signed in again as %q", got)
			}
		})
	}
}

// A page on another site cannot make the browser sign out everywhere, revoke
// a session or change the password (CSRF): 403, and nothing changes.
func TestAccountRoutesRefuseCrossOrigin(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	a := signInFrom(t, ts, "alice", "wonderland", "A")
	b := signInFrom(t, ts, "alice", "wonderland", "B")
	cross := map[string]string{"Content-Type": "application/json", "Accept": "application/json", "Sec-Fetch-Site": "cross-site"}
	wantStatus(t, a.do("POST", "/logout-all", nil, cross), http.StatusForbidden)
	revoke := `{"id":"` + sessionHandles(t, a)["B"] + `"}`
	wantStatus(t, a.do("POST", "/sessions/revoke", strings.NewReader(revoke), cross), http.StatusForbidden)
	body := `{"current_password":"wonderland","new_password":"looking-glass"}`
	wantStatus(t, a.do("POST", "/password", strings.NewReader(body), cross), http.StatusForbidden)
	if a.whoami() != "alice" || b.whoami() != "alice" {
		t.Fatal("a cross-site request signed a session out")
	}
	wantStatus(t, newClient(t, ts).login("alice", "wonderland"), http.StatusOK)
}
