package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Tests of what a session keeps whatever happens around it: the deadlines it
// was issued with (restarts with other flags, clocks that disagree), its
// place in its user's set (a failed or lost write), its deployment (a key
// prefix), and the bound on anonymous sessions.

// A restart with a longer -max-lifetime does not lengthen the sessions
// issued before it: expires_at stays what it was, and the session stays in
// its user's set, so that /sessions lists it and /logout-all and /password
// end it.
func TestRestartNeverLengthensASession(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	short := []string{"-db", db, "-max-lifetime", "2m"}
	long := []string{"-db", db, "-max-lifetime", "1h"}

	first := startServer(t, env, short...)
	signUpUsers(t, first)
	laptop := signInFrom(t, first, "alice", "wonderland", "Laptop/1.0")
	issued := laptop.get("/me").json(t)["expires_at"]
	must0(t, first.stop())

	second := startServer(t, env, long...)
	laptop.base = second.URL
	if got := laptop.get("/me").json(t)["expires_at"]; got != issued {
		t.Fatalf("after a restart with -max-lifetime 1h, expires_at = %v, want the issued %v", got, issued)
	}
	phone := signInFrom(t, second, "alice", "wonderland", "Phone/1.0")
	if !listsAgent(t, phone, "Laptop/1.0") {
		t.Fatal("/sessions no longer lists the session issued before the restart")
	}
	wantStatus(t, phone.do("POST", "/logout-all", nil, jsonHeaders), http.StatusOK)
	if got := laptop.whoami(); got != "" {
		t.Fatalf("after /logout-all, the session issued before the restart is still %q", got)
	}
	must0(t, second.stop())

	// The same for /password, from another session.
	third := startServer(t, env, short...)
	laptop = signInFrom(t, third, "alice", "wonderland", "Laptop/1.0")
	must0(t, third.stop())
	fourth := startServer(t, env, long...)
	laptop.base = fourth.URL
	phone = signInFrom(t, fourth, "alice", "wonderland", "Phone/1.0")
	wantStatus(t, phone.changePassword("wonderland", "new-wonderland"), http.StatusOK)
	if got := laptop.whoami(); got != "" {
		t.Fatalf("after /password, the session issued before the restart is still %q", got)
	}
}

// listsAgent says whether the user's /sessions lists a session of agent.
func listsAgent(t *testing.T, c *client, agent string) bool {
	t.Helper()
	for _, s := range c.get("/sessions").json(t)["sessions"].([]any) {
		if s.(map[string]any)["user_agent"] == agent {
			return true
		}
	}
	return false
}

// A restart with a shorter -max-lifetime or -idle-timeout shortens the
// sessions issued before: the earlier deadline wins.
func TestShorterFlagsShortenASession(t *testing.T) {
	rs := startRedis(t)
	st, clock := newTestStoreOn(t, rs, time.Hour, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	restarted, _ := newTestStoreOn(t, rs, 10*time.Minute, 20*time.Minute)
	restarted.now = clock.now
	if _, exp := sessionTimes(must(restarted.Get(requestWith(ck), cookieName))); !exp.Equal(clock.t.Add(10 * time.Minute)) {
		t.Fatalf("with -idle-timeout 10m, expires_at = %v, want now + 10m", exp)
	}
	clock.advance(9 * time.Minute)
	must(restarted.Get(requestWith(ck), cookieName))
	clock.advance(9 * time.Minute)
	if _, exp := sessionTimes(must(restarted.Get(requestWith(ck), cookieName))); !exp.Equal(clock.t.Add(2 * time.Minute)) {
		t.Fatalf("with -max-lifetime 20m, expires_at = %v, want 20m after sign-in", exp)
	}
	wantTTL(t, st.client, st.sessionKey(cookieID(t, st, ck)), 2*time.Minute)
}

// Instances whose clocks disagree: one that is ahead (here by more than a
// max lifetime) neither drops a live session from its user's set nor fails
// to end it: a set drops only the members whose session Redis has deleted.
func TestClockSkewKeepsTheIndex(t *testing.T) {
	rs := startRedis(t)
	st, clock := newTestStoreOn(t, rs, time.Hour, time.Hour)
	ahead, aheadClock := newTestStoreOn(t, rs, time.Hour, time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"}) // ends in an hour
	clock.advance(50 * time.Minute)
	aheadClock.t = clock.t.Add(3 * time.Hour) // past the session's deadline, by more than a max lifetime

	if list := must(ahead.UserSessions(t.Context(), "alice", "")); len(list) != 0 {
		t.Fatalf("the instance ahead lists %d sessions, want none: by its clock they have ended", len(list))
	}
	newSession(t, ahead, map[any]any{userKey: "alice"}) // lists it, and prunes the set
	if list := must(st.UserSessions(t.Context(), "alice", "")); len(list) != 2 {
		t.Fatalf("after the instance ahead listed and indexed, the session is listed %d times by the others, want 2 sessions", len(list))
	}
	must0(t, ahead.DeleteUserSessions(t.Context(), "alice", ""))
	if s := must(st.Get(requestWith(ck), cookieName)); !s.IsNew {
		t.Fatal("sign-out-everywhere on the instance ahead left the session live on the others")
	}
}

// A session is created and listed in one script, the set first: a login
// whose set write fails leaves no session and sets no cookie.
func TestFailedIndexWriteLeavesNoSession(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	// Any error will do; a key of the wrong type gives one.
	must0(t, st.client.Set(t.Context(), st.userSetKey("alice"), "not a set", 0).Err())
	r := requestWith(nil)
	s := must(st.New(r, cookieName))
	s.Values[userKey] = "alice"
	w := httptest.NewRecorder()
	if err := st.Save(r, w, s); err == nil {
		t.Fatal("Save succeeded although the user's set could not be written")
	}
	if n := countSessions(t, st); n != 0 || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("a failed login left %d sessions (cookie %q)", n, w.Header().Get("Set-Cookie"))
	}
}

// A user's sessions and set share one Cluster slot: the tag in {braces},
// which the session's id starts with. One script can therefore create and
// list a session at once, and delete every listed one at once, so no session
// escapes DeleteUserSessions; and a failover that loses the last writes of a
// master loses a session and its listing together.
func TestUserKeysShareASlot(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	gone := newSession(t, st, map[any]any{userKey: "alice"})
	kept := newSession(t, st, map[any]any{userKey: "alice"})
	other := newSession(t, st, map[any]any{userKey: "bob"})
	anon := newSession(t, st, map[any]any{visitsKey: 1})
	tag := func(key string) string {
		_, after, ok := strings.Cut(key, "{")
		tag, _, closed := strings.Cut(after, "}")
		if !ok || !closed {
			return ""
		}
		return tag
	}
	for _, ck := range []*http.Cookie{gone, kept} {
		id := cookieID(t, st, ck)
		if !strings.HasPrefix(id, userTag("alice")+".") || tag(st.sessionKey(id)) != userTag("alice") {
			t.Errorf("alice's session %q has the key %q, want alice's tag %q", id, st.sessionKey(id), userTag("alice"))
		}
	}
	if tag(st.userSetKey("alice")) != userTag("alice") || tag(st.userSetKey("bob")) != userTag("bob") || userTag("alice") == userTag("bob") {
		t.Errorf("the users' sets %q and %q do not carry their own tags", st.userSetKey("alice"), st.userSetKey("bob"))
	}
	if key := st.sessionKey(cookieID(t, st, anon)); tag(key) != "" {
		t.Errorf("the anonymous session's key %q has a tag: every anonymous session would share one slot", key)
	}
	// A signed-in session under an untagged key (the layout before tags) is
	// in no set that DeleteUserSessions reads: it is not adopted.
	must0(t, st.client.HSet(t.Context(), st.sessionKey(cookieID(t, st, anon)), "user", "alice").Err())
	if s := must(st.Get(requestWith(anon), cookieName)); !s.IsNew {
		t.Fatal("a signed-in session outside its user's slot was adopted")
	}

	must0(t, st.DeleteUserSessions(t.Context(), "alice", cookieID(t, st, kept)))
	if s := must(st.Get(requestWith(gone), cookieName)); !s.IsNew {
		t.Fatal("DeleteUserSessions left a session of the user")
	}
	if s := must(st.Get(requestWith(kept), cookieName)); s.IsNew {
		t.Fatal("DeleteUserSessions ended the session it was told to keep")
	}
	if s := must(st.Get(requestWith(other), cookieName)); s.IsNew {
		t.Fatal("ending alice's sessions ended bob's")
	}
	if list := must(st.UserSessions(t.Context(), "alice", "")); len(list) != 1 {
		t.Fatalf("alice has %d sessions listed, want the kept one", len(list))
	}
	must0(t, st.DeleteUserSessions(t.Context(), "alice", ""))
	if s := must(st.Get(requestWith(kept), cookieName)); !s.IsNew {
		t.Fatal("the kept session survived the next DeleteUserSessions")
	}
	// A login after it is a session like any other.
	fresh := newSession(t, st, map[any]any{userKey: "alice"})
	if s := must(st.Get(requestWith(fresh), cookieName)); s.IsNew {
		t.Fatal("a login after DeleteUserSessions does not work")
	}
}

// A session read after its idle deadline, before its max lifetime and
// before Redis expires it (the store's clock runs ahead of Redis's here), is
// over: the store checks it, not only Redis's TTL.
func TestGetAfterIdleDeadline(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	clock.advance(9 * time.Minute)
	if s := must(st.Get(requestWith(ck), cookieName)); s.IsNew {
		t.Fatal("a session read before its idle deadline is not served")
	}
	clock.advance(10 * time.Minute) // 10 minutes since the last use, 19 since sign-in
	if countSessions(t, st) != 1 {
		t.Fatal("Redis expired the session: the test would prove nothing")
	}
	s := must(st.Get(requestWith(ck), cookieName))
	if !s.IsNew || s.ID != "" || s.Values[userKey] != nil {
		t.Fatalf("a session read after its idle deadline is served: new %v, values %v", s.IsNew, s.Values)
	}
}

// Deployments with different -redis-prefix share a Redis and never see each
// other's sessions, even with the same SESSION_SECRET: not in /sessions, not
// in /logout-all or /password, not by a cookie carried from one to the other.
func TestRedisPrefixesIsolateDeployments(t *testing.T) {
	rs := startRedis(t)
	env := map[string]string{"SESSION_SECRET": testSecret}
	a := startServer(t, env, "-redis", rs.URL, "-redis-prefix", "one:")
	b := startServer(t, env, "-redis", rs.URL, "-redis-prefix", "two:")
	signUpUsers(t, a) // alice and bob on a
	wantStatus(t, newClient(t, b).signup("alice", "wonderland-b"), http.StatusCreated)

	aliceA := signInFrom(t, a, "alice", "wonderland", "A/1.0")
	bobA := signInFrom(t, a, "bob", "the-builder", "A/1.0")
	aliceB := signInFrom(t, b, "alice", "wonderland-b", "B/1.0")
	if listsAgent(t, aliceB, "A/1.0") || listsAgent(t, aliceA, "B/1.0") {
		t.Fatal("/sessions lists a session of the other deployment")
	}
	wantStatus(t, aliceB.do("POST", "/logout-all", nil, jsonHeaders), http.StatusOK)
	if got := aliceA.whoami(); got != "alice" {
		t.Fatalf("/logout-all on b signed out alice on a: /me = %q", got)
	}
	aliceB = signInFrom(t, b, "alice", "wonderland-b", "B/1.0")
	wantStatus(t, aliceB.changePassword("wonderland-b", "new-wonderland-b"), http.StatusOK)
	if got := aliceA.whoami(); got != "alice" {
		t.Fatalf("/password on b signed out alice on a: /me = %q", got)
	}
	// bob's cookie from a, sent to b: the same secret signs it, but b has
	// no such session.
	bobOnB := newClient(t, b)
	bobOnB.setSessionCookie(bobA.sessionCookie())
	if got := bobOnB.whoami(); got != "" {
		t.Fatalf("a cookie of a signs in on b as %q", got)
	}
	for key := range allKeys(t, rs.client()) {
		if !strings.HasPrefix(key, "one:") && !strings.HasPrefix(key, "two:") {
			t.Errorf("key %q is under neither prefix", key)
		}
	}
}

// HEAD answers like GET but neither makes, saves nor touches a session.
func TestHeadChangesNoSession(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	hs := httptest.NewServer(newServer(st.logger, st, newSQLiteUsers(db, st.logger), newHasher(bcrypt.MinCost), newThrottle(st.client, st.prefix, false, st.logger), db))
	defer hs.Close()
	c := newClient(t, &testServer{URL: hs.URL})

	if r := c.do("HEAD", "/visits", nil, nil); r.StatusCode != 200 || r.Header.Get("Set-Cookie") != "" {
		t.Fatalf("cookieless HEAD /visits: %d, Set-Cookie %q; want 200 and no cookie", r.StatusCode, r.Header.Get("Set-Cookie"))
	}
	if keys := allKeys(t, st.client); len(keys) != 0 {
		t.Fatalf("cookieless HEAD /visits wrote to Redis: %v", keys)
	}
	wantStatus(t, c.get("/visits"), 200) // visit 1: now there is a session
	for range 3 {
		c.do("HEAD", "/visits", nil, nil)
	}
	if got := c.get("/visits").json(t)["visits"]; got != 2.0 {
		t.Fatalf("after GET, 3 x HEAD, GET /visits: count %v, want 2 (HEAD counts nothing)", got)
	}

	// Nor does HEAD push the idle deadline, however long since the last touch.
	ck := &http.Cookie{Name: sessionCookieName, Value: c.sessionCookie()}
	id := must(st.Get(requestWith(ck), cookieName)).ID
	before := lastSeen(t, st, id)
	clock.advance(5 * time.Minute)
	head := httptest.NewRequest("HEAD", "/me", nil)
	head.AddCookie(ck)
	if s := must(st.Get(head, cookieName)); s.IsNew {
		t.Fatal("HEAD lost the session")
	}
	if got := lastSeen(t, st, id); !got.Equal(before) {
		t.Fatalf("HEAD pushed the idle deadline: last seen %v, want %v", got, before)
	}
}

// Past maxAnonymous new anonymous sessions in an idle timeout, /visits still
// answers but stores nothing and sets no cookie; a sign-in still works, and
// a signed-in user is never touched.
func TestAnonymousSessionsAreBounded(t *testing.T) {
	rs := startRedis(t)
	logger := slog.New(slog.DiscardHandler)
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	st := NewRedisStore(rs.client(), defaultRedisPrefix,
		newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, 24*time.Hour), newLifetimes(time.Hour, 24*time.Hour), logger)
	st.maxAnonymous = 3
	hs := httptest.NewServer(newServer(logger, st, newSQLiteUsers(db, logger), newHasher(bcrypt.MinCost), newThrottle(st.client, st.prefix, false, st.logger), db))
	defer hs.Close()
	ts := &testServer{URL: hs.URL}
	signUpUsers(t, ts) // sign-ups: signed in, not anonymous
	alice := signInFrom(t, ts, "alice", "wonderland", "Alice/1.0")
	before := countSessions(t, st)

	cookies := 0
	for range 10 {
		r := newClient(t, ts).get("/visits")
		wantStatus(t, r, http.StatusOK)
		if setCookie(r) != nil {
			cookies++
		}
	}
	if cookies != 3 || countSessions(t, st) != before+3 {
		t.Fatalf("10 cookieless visits set %d cookies and stored %d sessions, want 3 and 3", cookies, countSessions(t, st)-before)
	}
	if got := alice.whoami(); got != "alice" {
		t.Fatalf("during the flood, alice is %q", got)
	}
	bob := newClient(t, ts)
	wantStatus(t, bob.get("/visits"), http.StatusOK) // no session for bob's browser...
	wantStatus(t, bob.login("bob", "the-builder"), http.StatusOK)
	if got := bob.whoami(); got != "bob" { // ...which signs in all the same
		t.Fatalf("a login past the anonymous budget: /me = %q, want bob", got)
	}
	if got := bob.get("/visits").json(t)["visits"]; got != 1.0 {
		t.Fatalf("a signed-in user's visits past the anonymous budget: %v, want 1", got)
	}
}

// A prefix with braces would change the Cluster slot of every key, and part
// a user's sessions from the user's set: it is refused at start.
func TestPrefixWithBracesIsRefused(t *testing.T) {
	for _, prefix := range []string{"app{", "a{b}:", "}"} {
		if _, err := parseFlags([]string{"-redis-prefix", prefix}, io.Discard); err == nil {
			t.Errorf("-redis-prefix %q was accepted", prefix)
		}
	}
	if _, err := parseFlags([]string{"-redis-prefix", "app1:"}, io.Discard); err != nil {
		t.Errorf("-redis-prefix app1: was refused: %v", err)
	}
}
