package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestHasher(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	ctx := t.Context()
	password := strings.Repeat("p", 72)
	hash := must(h.Hash(ctx, "192.0.2.1", password))
	if strings.Contains(string(hash), password) {
		t.Fatal("the hash holds the password")
	}
	for _, tc := range []struct {
		name     string
		hash     []byte
		password string
		want     bool
	}{
		{"right password", hash, password, true},
		{"wrong password", hash, strings.Repeat("q", 72), false},
		// bcrypt reads 72 bytes at most: this one would match if passed on.
		{"the right 72 bytes and one more", hash, password + "p", false},
		{"no such user", nil, password, false},
		{"a password over 72 bytes and no user", nil, password + "p", false},
	} {
		if got := must(h.Compare(ctx, "192.0.2.1", tc.hash, tc.password)); got != tc.want {
			t.Errorf("%s: Compare = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := h.Hash(ctx, "192.0.2.1", password+"p"); err == nil {
		t.Error("Hash accepted a password over 72 bytes")
	}
}

// -bcrypt-cost is 12 unless set; below 10 it warns; outside bcrypt's range
// the server does not start.
func TestBcryptCostFlag(t *testing.T) {
	if cfg := must(parseFlags(nil, io.Discard)); cfg.bcryptCost != 12 {
		t.Errorf("default -bcrypt-cost = %d, want 12", cfg.bcryptCost)
	}
	for _, cost := range []string{"3", "32", "-1"} {
		err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-bcrypt-cost", cost}, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-bcrypt-cost") {
			t.Errorf("-bcrypt-cost %s: run returned %v, want an error about -bcrypt-cost", cost, err)
		}
	}
	for cost, wantWarn := range map[string]bool{"9": true, "10": false} {
		ts := startServer(t, nil, "-bcrypt-cost", cost)
		if warned := strings.Contains(ts.logs.String(), "level=WARN msg=\"-bcrypt-cost below 10"); warned != wantWarn {
			t.Errorf("-bcrypt-cost %s: warning logged = %v, want %v", cost, warned, wantWarn)
		}
	}
}

// holdHashing makes every request that gets a hashing slot wait there
// until the returned function is called, and sends its address on
// admitted: a test sees who hashes, and in which order.
func holdHashing(h *hasher) (admitted chan string, release func()) {
	admitted = make(chan string, 1000)
	gate := make(chan struct{})
	h.beforeHash = func(ctx context.Context, addr string) {
		admitted <- addr
		<-gate
	}
	return admitted, sync.OnceFunc(func() { close(gate) })
}

// compareFrom runs a Compare from addr in the background; its error comes
// on the channel.
func compareFrom(ctx context.Context, h *hasher, addr string) chan error {
	errc := make(chan error, 1)
	go func() { _, err := h.Compare(ctx, addr, nil, "password"); errc <- err }()
	return errc
}

// Hashing is admitted by time, fairly per address: at most GOMAXPROCS
// hashes run at once; any number of requests may wait for a turn, but
// none longer than the hasher's wait (then errBusy); one address holds at
// most as many places, waiting or hashing, as there are slots; and a
// request whose client has gone gives up at once.
func TestHashingIsAdmittedByTimeAndAddress(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	if procs := runtime.GOMAXPROCS(0); h.slots != procs || h.wait != maxWait {
		t.Fatalf("%d slots and a wait of %v, want GOMAXPROCS (%d) and %v", h.slots, h.wait, procs, maxWait)
	}
	h.slots = 2        // whatever the machine
	h.wait = time.Hour // no deadline, until the test sets one
	admitted, release := holdHashing(h)
	defer release()
	waiting := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.waiting)
	}

	// Two hash for 192.0.2.1, then its third is turned away at once.
	all := []chan error{compareFrom(t.Context(), h, "192.0.2.1"), compareFrom(t.Context(), h, "192.0.2.1")}
	<-admitted
	<-admitted
	if err := <-compareFrom(t.Context(), h, "192.0.2.1"); !errors.Is(err, errBusy) {
		t.Fatalf("a third request from an address with two places: %v, want errBusy at once", err)
	}
	// A hundred other addresses wait: not counted, not refused.
	for i := range 100 {
		all = append(all, compareFrom(t.Context(), h, fmt.Sprintf("198.51.100.%d", i)))
	}
	waitUntil(t, "100 requests wait", func() bool { return waiting() == 100 })
	// One whose client leaves gives up, and frees its place in the line.
	ctx, cancel := context.WithCancel(t.Context())
	gone := compareFrom(ctx, h, "203.0.113.9")
	waitUntil(t, "one more waits", func() bool { return waiting() == 101 })
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled request: %v, want context.Canceled", err)
	}
	if n := waiting(); n != 100 {
		t.Errorf("%d requests wait after one gave up, want 100", n)
	}
	release()
	for _, errc := range all {
		if err := <-errc; err != nil {
			t.Errorf("a request that waited for its turn: %v", err)
		}
	}
	h.mu.Lock()
	if len(h.places) != 0 || h.hashing != 0 {
		t.Errorf("places %v and %d hashing after every request ended", h.places, h.hashing)
	}
	// With every slot taken, a request waits h.wait, then gets errBusy.
	h.wait, h.hashing = 50*time.Millisecond, h.slots
	h.mu.Unlock()
	if err := <-compareFrom(t.Context(), h, "192.0.2.1"); !errors.Is(err, errBusy) {
		t.Errorf("a request that found no turn within its wait: %v, want errBusy", err)
	}
}

// While three addresses flood logins, each keeping all its places full, a
// newcomer from a fourth address gets the next free turn.
func TestNewcomerIsServedDuringAFlood(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	h.slots = 2
	h.wait = time.Hour
	order := make(chan string, 100)
	turn := make(chan struct{})
	h.beforeHash = func(ctx context.Context, addr string) {
		order <- addr
		<-turn
	}
	flooders := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}
	places := func(addrs ...string) (n int) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range addrs {
			n += h.places[a]
		}
		return n
	}
	var all []chan error
	for _, flooder := range flooders {
		all = append(all, compareFrom(t.Context(), h, flooder), compareFrom(t.Context(), h, flooder))
	}
	waitUntil(t, "the flood holds every place", func() bool { return places(flooders...) == 6 })
	all = append(all, compareFrom(t.Context(), h, "198.51.100.7"))
	waitUntil(t, "the newcomer waits", func() bool { return places("198.51.100.7") == 1 })
	for range 2 { // the two that were hashing when the newcomer came
		if addr := <-order; addr == "198.51.100.7" {
			t.Fatal("the newcomer hashed ahead of the two that were hashing when it came")
		}
	}
	turn <- struct{}{} // one of them ends: one turn comes free, and no other
	if addr := <-order; addr != "198.51.100.7" {
		t.Errorf("the next free turn went to %s, want the newcomer, 198.51.100.7", addr)
	}
	close(turn)
	for _, errc := range all {
		<-errc // each ends, whatever its answer
	}
}

// waitUntil polls cond until it holds, for 10 seconds at most.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for: %s", what)
		}
	}
}

// serveWith serves a new memory store and users with h and th, so that a
// test can hold hashing or set the throttle's clock.
func serveWith(t testing.TB, h *hasher, th *throttle) (*testServer, *MemoryStore) {
	t.Helper()
	st := NewMemoryStore(newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, time.Hour), newLifetimes(time.Hour, time.Hour))
	hs := httptest.NewServer(newServer(slog.New(slog.DiscardHandler), st, newMemoryUsers(), h, th))
	t.Cleanup(hs.Close)
	return &testServer{URL: hs.URL, logs: &syncBuffer{}, stop: func() error { hs.Close(); return nil }}, st
}

// Logins that were never checked are no failures. Ten logins at once with
// the right password from one address, while hashing is held: two hash,
// the rest are answered 503 with Retry-After at once, never 401 or 429.
// Then alice signs in, and five wrong passwords (exactly) are still allowed
// from that address: the busy answers counted for nothing.
func TestBusyIsNotAFailure(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	h.slots = 2
	ts, _ := serveWith(t, h, newThrottle(true))
	signUpUsers(t, ts)
	admitted, release := holdHashing(h)

	answers := make(chan response, 10)
	for range 10 {
		go func() { answers <- newClient(t, ts).loginFrom("203.0.113.1", "alice", "wonderland") }()
	}
	for range 8 {
		r := <-answers
		wantStatus(t, r, http.StatusServiceUnavailable)
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	<-admitted
	<-admitted
	release()
	wantStatus(t, <-answers, http.StatusOK)
	wantStatus(t, <-answers, http.StatusOK)

	c := newClient(t, ts)
	wantStatus(t, c.loginFrom("203.0.113.1", "alice", "wonderland"), http.StatusOK)
	for range maxFailures {
		wantStatus(t, c.loginFrom("203.0.113.1", "alice", "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, c.loginFrom("203.0.113.1", "alice", "wonderland"))
}

// A login whose client leaves while its password is checked creates no
// session: nobody would receive its cookie.
func TestGoneClientGetsNoSession(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	ts, st := serveWith(t, h, newThrottle(false))
	signUpUsers(t, ts) // one session each
	reached := make(chan struct{})
	h.beforeHash = func(ctx context.Context, addr string) {
		close(reached)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Error("the server did not notice within 10s that the client left")
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/login", strings.NewReader(`{"username":"alice","password":"wonderland"}`))
		req.Header.Set("Content-Type", "application/json")
		_, err := http.DefaultClient.Do(req)
		errc <- err
	}()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the login did not reach hashing within 10s")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled login returned %v, want context.Canceled", err)
	}
	ts.stop() // waits for the handler to end
	if n := userSessions(st, "alice"); n != 1 {
		t.Errorf("alice has %d sessions, want 1 (her signup's): the login whose client left made one", n)
	}
}

// A user whose hash has an older, cheaper cost, and who is sent a wrong
// password, costs a comparison at the current cost too, as an unknown user
// does: else the quick answer would tell who has not signed in since the
// cost was raised. The costs compared are counted, not timed.
func TestOldCostHashesAreTimedLikeTheRest(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost + 2))
	var costs []int
	h.compare = func(hash, password []byte) error {
		costs = append(costs, must(bcrypt.Cost(hash)))
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	old := must(bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost))
	for _, tc := range []struct {
		name     string
		hash     []byte
		password string
	}{{"no such user", nil, "wonderland"}, {"an old-cost hash, a wrong password", old, "not-wonderland"}} {
		costs = nil
		must(h.Compare(t.Context(), "192.0.2.1", tc.hash, tc.password))
		if !slices.Contains(costs, h.cost) {
			t.Errorf("%s: compared at costs %v, want one at the current cost %d", tc.name, costs, h.cost)
		}
	}
}

// The dummy hash costs what a real hash costs.
func TestDummyHashHasTheCost(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, bcrypt.MinCost + 2} {
		h := must(newHasher(cost))
		if got := must(bcrypt.Cost(h.dummy)); got != cost {
			t.Errorf("newHasher(%d): the dummy hash has cost %d", cost, got)
		}
	}
}

// userSessions is how many sessions of user st holds.
func userSessions(st *MemoryStore, user string) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, rec := range st.sessions {
		if rec.values[userKey] == user {
			n++
		}
	}
	return n
}
