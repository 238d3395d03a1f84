package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/semaphore"
)

func TestHasher(t *testing.T) {
	h := newHasher(bcrypt.MinCost)
	password := strings.Repeat("p", 72)
	hash := h.Hash(password)
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
		if got := h.Compare(tc.hash, tc.password); got != tc.want {
			t.Errorf("%s: Compare = %v, want %v", tc.name, got, tc.want)
		}
	}
	if h.Hash(password+"p") != nil {
		t.Error("Hash hashed a password over 72 bytes (bcrypt would have read only 72)")
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

// holdTurns makes every request that gets a turn to hash wait there until
// the test sends on next (or closes it), and sends its address on turns:
// a test sees who hashes, and in which order.
func holdTurns(h *hasher) (turns chan string, next chan struct{}) {
	turns, next = make(chan string, 100), make(chan struct{})
	h.beforeHash = func(ctx context.Context, addr string) {
		turns <- addr
		<-next
	}
	return turns, next
}

// turnFrom asks for a turn from addr in the background, and ends it at
// once; the answer comes on the channel.
func turnFrom(ctx context.Context, h *hasher, addr string) chan error {
	errc := make(chan error, 1)
	go func() {
		done, err := h.turn(ctx, addr)
		if err == nil {
			done()
		}
		errc <- err
	}()
	return errc
}

// Hashing is admitted by time, one request at a time per address: at most
// as many hashes run at once as there are cores; a request waits maxWait
// at most (the clock is synctest's), then gets context.DeadlineExceeded (busy); one whose client
// has gone gives up at once; and no lane outlives its requests.
func TestHashingIsAdmittedByTimeAndAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHasher(bcrypt.MinCost)
		h.cores = semaphore.NewWeighted(2) // whatever the machine
		turns, next := holdTurns(h)

		// Three requests from one address: the first hashes, the others wait.
		from1 := []chan error{turnFrom(t.Context(), h, "192.0.2.1")}
		synctest.Wait()
		from1 = append(from1, turnFrom(t.Context(), h, "192.0.2.1"), turnFrom(t.Context(), h, "192.0.2.1"))
		synctest.Wait()
		if n := len(turns); n != 1 {
			t.Errorf("%d requests from one address hash at once, want 1", n)
		}
		// Another address takes the second core; a third waits maxWait.
		from2 := turnFrom(t.Context(), h, "192.0.2.2")
		synctest.Wait()
		start := time.Now()
		if err := <-turnFrom(t.Context(), h, "192.0.2.3"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != maxWait {
			t.Errorf("with every core taken: %v after %v, want context.DeadlineExceeded after maxWait (%v)", err, time.Since(start), maxWait)
		}
		// A request whose client has gone gives up, waiting or not.
		ctx, cancel := context.WithCancel(t.Context())
		gone := turnFrom(ctx, h, "192.0.2.4")
		synctest.Wait()
		cancel()
		if err := <-gone; !errors.Is(err, context.Canceled) {
			t.Errorf("a request whose client left while it waited: %v, want context.Canceled", err)
		}
		close(next)
		if err := <-turnFrom(ctx, h, "192.0.2.5"); !errors.Is(err, context.Canceled) {
			t.Errorf("a request whose client had left, with cores free: %v, want context.Canceled", err)
		}
		// The first of 192.0.2.1's and 192.0.2.2's hashed, and ended; the
		// other two from 192.0.2.1 waited maxWait in its lane, behind it.
		for i, want := range []error{nil, context.DeadlineExceeded, context.DeadlineExceeded, nil} {
			if err := <-append(from1, from2)[i]; !errors.Is(err, want) {
				t.Errorf("request %d: %v, want %v", i+1, err, want)
			}
		}
		if len(h.lanes) != 0 {
			t.Errorf("%d lanes left after every request ended", len(h.lanes))
		}
	})
}

// A burst that the cores can hash within maxWait is served in full: 200
// requests from 200 addresses at once, each hashing 4 ms on 2 cores (0.4 s
// in all), all get their turn; the length of the line refuses nobody.
func TestABurstIsServedInFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHasher(bcrypt.MinCost)
		h.cores = semaphore.NewWeighted(2)
		h.beforeHash = func(context.Context, string) { time.Sleep(4 * time.Millisecond) }
		start := time.Now()
		var burst []chan error
		for i := range 200 {
			burst = append(burst, turnFrom(t.Context(), h, fmt.Sprintf("198.51.%d.%d", i/100, i%100)))
		}
		for i, errc := range burst {
			if err := <-errc; err != nil {
				t.Errorf("request %d of the burst: %v, want its turn", i+1, err)
			}
		}
		if d := time.Since(start); d >= maxWait {
			t.Errorf("the burst took %v, want under maxWait (200 × 4 ms on 2 cores is 0.4 s)", d)
		}
	})
}

// While three addresses flood, each with many requests waiting, a
// newcomer from a fourth address waits only behind the requests that were
// hashing when it came, and one request of each flooder: the turn after
// those is its own.
func TestNewcomerIsServedDuringAFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHasher(bcrypt.MinCost)
		h.cores = semaphore.NewWeighted(2)
		turns, next := holdTurns(h)
		flooders := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}
		for range 4 {
			for _, flooder := range flooders {
				turnFrom(t.Context(), h, flooder)
			}
		}
		synctest.Wait()
		newcomer := turnFrom(t.Context(), h, "198.51.100.7")
		synctest.Wait()
		// Two flooders hash; the third waits for a core, ahead of the
		// newcomer; every other flood request waits in its own lane. Two
		// turns end, one after the other: the second goes to the newcomer.
		for i := range 4 {
			if i >= 2 {
				next <- struct{}{} // a turn ends
			}
			if addr := <-turns; (i < 3) != slices.Contains(flooders, addr) {
				t.Errorf("turn %d went to %s", i+1, addr)
			}
		}
		close(next)
		if err := <-newcomer; err != nil {
			t.Errorf("the newcomer: %v", err)
		}
	})
}

// serveWith serves a new memory store and users with h and th, so that a
// test can hold hashing or pick the throttle.
func serveWith(t testing.TB, h *hasher, th *throttle) (*testServer, *MemoryStore) {
	t.Helper()
	st := NewMemoryStore(newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, time.Hour), newLifetimes(time.Hour, time.Hour))
	hs := httptest.NewServer(newServer(slog.New(slog.DiscardHandler), st, &memoryUsers{}, h, th))
	t.Cleanup(hs.Close)
	return &testServer{URL: hs.URL, logs: &syncBuffer{}, stop: func() error { hs.Close(); return nil }}, st
}

// Logins that were never checked are no failures. While alice's login
// holds its address's turn to hash, three wrong passwords from the same
// address wait maxWait in its lane, and get 503 with Retry-After, never
// 401 or 429. Then five wrong passwords (exactly) are still allowed from
// that address: the busy answers counted for nothing.
func TestBusyIsNotAFailure(t *testing.T) {
	h := newHasher(bcrypt.MinCost)
	ts, _ := serveWith(t, h, newThrottle(true))
	signUpUsers(t, ts)
	turns, next := holdTurns(h)

	held := make(chan response, 1)
	go func() { held <- newClient(t, ts).loginFrom("203.0.113.1", "alice", "wonderland") }()
	<-turns
	answers := make(chan response, 3)
	for range 3 {
		go func() { answers <- newClient(t, ts).loginFrom("203.0.113.1", "alice", "guess") }()
	}
	for range 3 {
		r := <-answers
		wantStatus(t, r, http.StatusServiceUnavailable)
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	close(next)
	wantStatus(t, <-held, http.StatusOK)

	c := newClient(t, ts)
	for range maxFailures {
		wantStatus(t, c.loginFrom("203.0.113.1", "alice", "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, c.loginFrom("203.0.113.1", "alice", "wonderland"))
}

// A login whose client leaves while its password is checked creates no
// session: nobody would receive its cookie.
func TestGoneClientGetsNoSession(t *testing.T) {
	h := newHasher(bcrypt.MinCost)
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
	h := newHasher(bcrypt.MinCost + 2)
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
		h.Compare(tc.hash, tc.password)
		if !slices.Contains(costs, h.cost) {
			t.Errorf("%s: compared at costs %v, want one at the current cost %d", tc.name, costs, h.cost)
		}
	}
}

// The dummy hash costs what a real hash costs.
func TestDummyHashHasTheCost(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, bcrypt.MinCost + 2} {
		h := newHasher(cost)
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
