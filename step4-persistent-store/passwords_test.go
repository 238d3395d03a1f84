package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestHasher(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	ctx := t.Context()
	password := strings.Repeat("p", 72)
	hash := must(h.Hash(ctx, password))
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
		if got := must(h.Compare(ctx, tc.hash, tc.password)); got != tc.want {
			t.Errorf("%s: Compare = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := h.Hash(ctx, password+"p"); err == nil {
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

// At most GOMAXPROCS hashes run at once, and waitingPerSlot requests per
// slot wait for a turn: one more is turned away at once. One waiting for
// its turn gives up when its request is cancelled, and goes on when a turn
// comes.
func TestHashingWaitsForItsTurnOrGivesUp(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	if procs := runtime.GOMAXPROCS(0); cap(h.slots) != procs || cap(h.queue) != waitingPerSlot*procs {
		t.Fatalf("%d slots and a queue of %d, want GOMAXPROCS (%d) and %d per slot", cap(h.slots), cap(h.queue), procs, waitingPerSlot)
	}
	h.queue = make(chan struct{}, 4) // room for the four below, whatever GOMAXPROCS is
	hash := must(h.Hash(t.Context(), "password"))
	for range cap(h.slots) { // every slot busy, as under a flood of logins
		if err := h.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	// Each of these waits for a turn, then gives up: a comparison for no
	// user, or for a password over 72 bytes, queues like a real one (and
	// so costs a real one's time).
	ctx, cancel := context.WithCancel(t.Context())
	waiting := map[string]func() error{
		"Compare":                func() error { _, err := h.Compare(ctx, hash, "password"); return err },
		"Compare, no such user":  func() error { _, err := h.Compare(ctx, nil, "password"); return err },
		"Compare, over 72 bytes": func() error { _, err := h.Compare(ctx, hash, strings.Repeat("p", 73)); return err },
		"Hash":                   func() error { _, err := h.Hash(ctx, "password"); return err },
	}
	errs := make(map[string]chan error)
	for name, f := range waiting {
		errc := make(chan error, 1)
		errs[name] = errc
		go func() { errc <- f() }()
	}
	waitUntil(t, "four requests wait for a turn", func() bool { return len(h.queue) == 4 })
	if _, err := h.Compare(t.Context(), hash, "password"); !errors.Is(err, errBusy) {
		t.Errorf("Compare with every slot busy and the queue full returned %v, want errBusy at once", err)
	}
	cancel()
	for name, errc := range errs {
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled request returned %v, want context.Canceled", name, err)
		}
	}

	ok := make(chan bool, 1)
	go func() { ok <- must(h.Compare(t.Context(), hash, "password")) }()
	h.release() // one turn comes free
	if !<-ok {
		t.Error("a comparison that waited for its turn did not match")
	}

	// A slot is free now, but the request is gone already.
	if _, err := h.Compare(ctx, hash, "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Compare for a cancelled request ran anyway: %v", err)
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

// A flood of 400 logins for made-up usernames from one address, while every
// hashing slot is held: every request gets an answer (401, 429, or 503 with
// Retry-After), never a dropped connection, and only the slots and the queue
// get to hash. A real user's logins meanwhile get 503 with Retry-After at
// once, and do not count against her: she signs in once the flood has
// drained. The flood's do count against its address, now locked.
func TestLoginFloodIsBounded(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // 2 slots, whatever the machine
	const slots, flood = 2, 400
	bound := slots + waitingPerSlot*slots
	var holding atomic.Bool
	var hashed atomic.Int64
	release := make(chan struct{})
	testHookHashing = func(ctx context.Context) {
		if holding.Load() {
			hashed.Add(1)
			<-release
		}
	}
	t.Cleanup(func() { testHookHashing = nil }) // after the server has stopped
	ts := startServer(t, nil, "-trust-proxy")
	signUpUsers(t, ts)
	holding.Store(true)

	type answer struct {
		r   response
		err error
	}
	answers := make(chan answer, flood)
	for i := range flood {
		go func() {
			body := url.Values{"username": {"nobody" + strconv.Itoa(i)}, "password": {"guess"}}.Encode()
			req, _ := http.NewRequest("POST", ts.URL+"/login", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("X-Forwarded-For", "203.0.113.1")
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers <- answer{response{resp, string(b)}, err}
		}()
	}
	statuses := map[int]int{}
	take := func(n int) {
		t.Helper()
		for range n {
			var a answer
			select {
			case a = <-answers:
			case <-time.After(30 * time.Second):
				t.Fatalf("a flood login got no answer within 30s (statuses so far %v)", statuses)
			}
			if a.err != nil {
				t.Fatalf("a flood login got no answer: %v", a.err)
			}
			statuses[a.r.StatusCode]++
			switch a.r.StatusCode {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				if a.r.Header.Get("Retry-After") == "" {
					t.Errorf("%d without Retry-After", a.r.StatusCode)
				}
			default:
				t.Errorf("a flood login got %d, want 401, 429 or 503: %s", a.r.StatusCode, a.r.Body)
			}
		}
	}
	take(flood - bound) // all but those in the slots and the queue, without waiting for them

	alice := newClient(t, ts)
	for range maxFailures + 1 {
		r := alice.loginFrom("198.51.100.7", "alice", "wonderland")
		wantStatus(t, r, http.StatusServiceUnavailable)
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if n := hashed.Load(); n != int64(slots) {
		t.Errorf("%d requests hashing during the flood, want %d", n, slots)
	}

	close(release)
	take(bound)
	if statuses[http.StatusUnauthorized] != bound || hashed.Load() != int64(bound) {
		t.Errorf("%d flood logins hashed, %d answered 401 (statuses %v), want %d: the slots and the queue", hashed.Load(), statuses[http.StatusUnauthorized], statuses, bound)
	}
	wantStatus(t, alice.loginFrom("198.51.100.7", "alice", "wonderland"), http.StatusOK)
	wantThrottled(t, alice.loginFrom("203.0.113.1", "alice", "wonderland"))
}

// A login whose client leaves while its password is checked creates no
// session: nobody would receive its cookie.
func TestGoneClientGetsNoSession(t *testing.T) {
	var armed atomic.Bool
	reached := make(chan struct{})
	testHookHashing = func(ctx context.Context) {
		if !armed.CompareAndSwap(true, false) {
			return
		}
		close(reached)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Error("the server did not notice within 10s that the client left")
		}
	}
	t.Cleanup(func() { testHookHashing = nil }) // after the server has stopped
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, nil, "-db", db)
	signUpUsers(t, ts) // one session each
	armed.Store(true)

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
	must0(t, ts.stop()) // waits for the handler to end
	if n := userSessions(t, db, "alice"); n != 1 {
		t.Errorf("alice has %d sessions, want 1 (her signup's): the login whose client left made one", n)
	}
}

// userSessions is how many sessions of user the database at path holds.
func userSessions(t *testing.T, path, user string) int {
	t.Helper()
	var n int
	must0(t, openTestDB(t, path).read.QueryRow(`SELECT count(*) FROM sessions WHERE user = ?`, user).Scan(&n))
	return n
}
