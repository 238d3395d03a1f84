package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Tests of what a store must refuse or keep: HEAD, the bound on anonymous
// sessions, flashes, the idle deadline.

// serveStore runs the app's handlers on st, so that a test can look inside
// the store the server uses.
func serveStore(t testing.TB, st *MemoryStore) *testServer {
	t.Helper()
	hs := httptest.NewServer(newServer(slog.New(slog.NewTextHandler(io.Discard, nil)), st,
		&memoryUsers{}, newHasher(bcrypt.MinCost), newThrottle(false)))
	t.Cleanup(hs.Close)
	return &testServer{URL: hs.URL, logs: &syncBuffer{}, stop: func() error { hs.Close(); return nil }}
}

// anonymousSessions is how many sessions without a user st holds.
func anonymousSessions(st *MemoryStore) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, rec := range st.sessions {
		if _, ok := rec.values[userKey]; !ok {
			n++
		}
	}
	return n
}

// HEAD answers like GET but neither makes, saves nor touches a session.
func TestHeadChangesNoSession(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	ts := serveStore(t, st)
	c := newClient(t, ts)

	if r := c.do("HEAD", "/visits", nil, nil); r.StatusCode != 200 || r.Header.Get("Set-Cookie") != "" {
		t.Fatalf("cookieless HEAD /visits: %d, Set-Cookie %q; want 200 and no cookie", r.StatusCode, r.Header.Get("Set-Cookie"))
	}
	if n := st.Len(); n != 0 {
		t.Fatalf("cookieless HEAD /visits stored %d sessions, want 0", n)
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
	before := lastSeen(st, id)
	clock.advance(5 * time.Minute)
	head := httptest.NewRequest("HEAD", "/me", nil)
	head.AddCookie(ck)
	if s := must(st.Get(head, cookieName)); s.IsNew {
		t.Fatal("HEAD lost the session")
	}
	if got := lastSeen(st, id); !got.Equal(before) {
		t.Fatalf("HEAD pushed the idle deadline: last seen %v, want %v", got, before)
	}
}

// A flood of cookieless visits stops at maxAnonymous sessions, and never
// shuts out a signed-in user or a new login.
func TestAnonymousSessionsAreBounded(t *testing.T) {
	st, _ := newTestStore(t, 10*time.Minute, time.Hour)
	st.maxAnonymous = 5
	ts := serveStore(t, st)
	signUpUsers(t, ts)
	alice := newClient(t, ts)
	wantStatus(t, alice.login("alice", "wonderland"), 200)

	for i := range 20 {
		r := newClient(t, ts).get("/visits") // a new visitor every time
		wantStatus(t, r, 200)
		if ck := setCookie(r); (ck != nil) != (i < 5) {
			t.Fatalf("cookieless visit %d: Set-Cookie %v; want a cookie for the first 5 only", i+1, ck)
		}
	}
	if n := anonymousSessions(st); n != 5 {
		t.Fatalf("after 20 cookieless visits the store holds %d anonymous sessions, want the bound, 5", n)
	}
	if got := alice.whoami(); got != "alice" {
		t.Fatalf("at the bound, alice's /me says %q", got)
	}
	bob := newClient(t, ts)
	wantStatus(t, bob.login("bob", "the-builder"), 200)
	if got := bob.whoami(); got != "bob" {
		t.Fatalf("at the bound, a new login gives /me %q", got)
	}
}

// Flashes (gorilla's AddFlash and Flashes) go through the store and come
// back once.
func TestFlashesRoundTrip(t *testing.T) {
	st, _ := newTestStore(t, 10*time.Minute, time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})

	s := must(st.Get(requestWith(ck), cookieName))
	s.AddFlash("Welcome back, alice!")
	if err := st.Save(requestWith(ck), httptest.NewRecorder(), s); err != nil {
		t.Fatal(err)
	}

	s = must(st.Get(requestWith(ck), cookieName))
	if got := s.Flashes(); len(got) != 1 || got[0] != "Welcome back, alice!" {
		t.Fatalf("flashes read back: %#v, want the one added", got)
	}
	if err := st.Save(requestWith(ck), httptest.NewRecorder(), s); err != nil {
		t.Fatal(err)
	}
	if got := must(st.Get(requestWith(ck), cookieName)).Flashes(); len(got) != 0 {
		t.Fatalf("flashes after they were read and saved: %#v, want none", got)
	}
}

// A session read after its idle deadline, before its maximum lifetime and
// with no sweeper running, is over: Get checks the deadline itself.
func TestGetRefusesIdleSession(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	clock.advance(10*time.Minute + time.Second)
	s := must(st.Get(requestWith(ck), cookieName))
	if !s.IsNew || s.Values[userKey] != nil {
		t.Fatalf("a session idle for 10m1s with -idle-timeout 10m was served: user %v", s.Values[userKey])
	}
}
