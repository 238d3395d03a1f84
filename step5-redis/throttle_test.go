package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// loginFrom logs in with X-Forwarded-For set to addr ("" for none).
func (c *client) loginFrom(addr, user, password string) response {
	c.t.Helper()
	header := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
	if addr != "" {
		header["X-Forwarded-For"] = addr
	}
	body := url.Values{"username": {user}, "password": {password}}.Encode()
	return c.do("POST", "/login", strings.NewReader(body), header)
}

// wantThrottled checks a 429 with a Retry-After of at most the window.
func wantThrottled(t *testing.T, r response) {
	t.Helper()
	wantStatus(t, r, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs <= 0 || secs > int(failureWindow.Seconds()) {
		t.Errorf("Retry-After = %q, want 1 to %d seconds", r.Header.Get("Retry-After"), int(failureWindow.Seconds()))
	}
	if msg, _ := r.json(t)["error"].(string); msg == "" {
		t.Errorf("429 without an error message: %s", r.Body)
	}
}

// Five failures for one username from one address are allowed; the sixth
// attempt is 429, even with the right password, while other usernames and
// other addresses go on as before. Addresses come from X-Forwarded-For,
// which -trust-proxy makes the server believe.
func TestFailedLoginsAreThrottled(t *testing.T) {
	ts := startServer(t, nil, "-trust-proxy")
	signUpUsers(t, ts)
	c := newClient(t, ts)
	const here, elsewhere = "203.0.113.1", "203.0.113.2"

	for i := range maxFailures {
		if r := c.loginFrom(here, "alice", "guess"+strconv.Itoa(i)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, r.StatusCode)
		}
	}
	wantThrottled(t, c.loginFrom(here, "alice", "guess5"))
	wantThrottled(t, c.loginFrom(here, "alice", "wonderland"))
	wantThrottled(t, c.loginFrom(here, "ALICE", "wonderland")) // one user, however spelt
	// Only the last X-Forwarded-For entry counts: the one our proxy added.
	wantThrottled(t, c.loginFrom("198.51.100.9, "+here, "alice", "wonderland"))
	if c.whoami() != "" {
		t.Fatal("signed in while throttled")
	}

	wantStatus(t, c.loginFrom(here, "bob", "guess"), http.StatusUnauthorized)
	wantStatus(t, c.loginFrom(elsewhere, "alice", "guess"), http.StatusUnauthorized)
	wantStatus(t, c.loginFrom(here+", "+elsewhere, "alice", "wonderland"), http.StatusOK)

	// Usernames that do not exist are throttled alike, so 429 tells nothing.
	for range maxFailures {
		wantStatus(t, c.loginFrom(here, "nobody", "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, c.loginFrom(here, "nobody", "guess"))
}

// Without -trust-proxy, X-Forwarded-For is whatever the client wrote: the
// connection's address counts, and changing the header does not help.
func TestForwardedForIgnoredByDefault(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	c := newClient(t, ts)
	for i := range maxFailures {
		wantStatus(t, c.loginFrom("203.0.113."+strconv.Itoa(i), "alice", "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, c.loginFrom("203.0.113.99", "alice", "wonderland"))
	wantThrottled(t, c.loginFrom("", "alice", "wonderland"))
}

// A successful login forgets the failures before it.
func TestSuccessClearsFailures(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	c := newClient(t, ts)
	for range maxFailures - 1 {
		wantStatus(t, c.login("alice", "guess"), http.StatusUnauthorized)
	}
	wantStatus(t, c.login("alice", "wonderland"), http.StatusOK)
	for range maxFailures {
		wantStatus(t, c.login("alice", "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, c.login("alice", "wonderland"))
}

// Parallel logins from one address are checked one at a time: of 20
// wrong guesses sent at once, at most 5 get 401 and the rest 429 or 503
// (try again shortly), however they interleave; the sixth failure is never
// checked. Of 150 right passwords sent at once, none gets 401 or 429: some
// may be told to try again shortly (503), and the next login signs in.
func TestParallelLoginsAreCounted(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	statuses := func(n int, user, password string) map[int]int {
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				r := newClient(t, ts).login(user, password)
				mu.Lock()
				got[r.StatusCode]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return got
	}
	if got := statuses(150, "bob", "the-builder"); got[http.StatusOK]+got[http.StatusServiceUnavailable] != 150 {
		t.Errorf("150 parallel right logins: statuses %v, want 200 or 503", got)
	}
	wantStatus(t, newClient(t, ts).login("bob", "the-builder"), http.StatusOK)
	got := statuses(20, "alice", "guess")
	if got[http.StatusUnauthorized] < 1 || got[http.StatusUnauthorized] > maxFailures ||
		got[http.StatusUnauthorized]+got[http.StatusTooManyRequests]+got[http.StatusServiceUnavailable] != 20 {
		t.Errorf("20 parallel guesses: statuses %v, want 1 to %d × 401 and the rest 429 or 503", got, maxFailures)
	}
	c := newClient(t, ts)
	for range maxFailures - got[http.StatusUnauthorized] {
		wantStatus(t, c.login("alice", "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, c.login("alice", "guess"))
}

// One address trying a new username each time is throttled too: after 100
// failures, whatever the usernames, it gets 429 for every username, the
// right password included; a success in between does not reset its count;
// other addresses go on.
func TestFailedLoginsPerAddress(t *testing.T) {
	ts := startServer(t, nil, "-trust-proxy")
	signUpUsers(t, ts)
	c := newClient(t, ts)
	const here, elsewhere = "203.0.113.1", "2001:db8:1:2::1"
	for i := range maxAddrFailures - 1 {
		if r := c.loginFrom(here, "user"+strconv.Itoa(i), "guess"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, r.StatusCode)
		}
	}
	wantStatus(t, c.loginFrom(here, "alice", "wonderland"), http.StatusOK) // no reset
	wantStatus(t, c.loginFrom(here, "bob", "guess"), http.StatusUnauthorized)
	wantThrottled(t, c.loginFrom(here, "someone-new", "guess"))
	wantThrottled(t, c.loginFrom(here, "bob", "the-builder"))

	// IPv6 counts by /64: another address in the same /64 is the same.
	for i := range maxAddrFailures {
		wantStatus(t, c.loginFrom(elsewhere, "user"+strconv.Itoa(i), "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, c.loginFrom("2001:db8:1:2::99", "bob", "the-builder"))
	wantStatus(t, c.loginFrom("2001:db8:1:3::1", "bob", "the-builder"), http.StatusOK)
}

// More than 10 signups from one address within an hour get 429 with
// Retry-After. A signup counts once hashed: taken names (409) count,
// invalid forms (400) do not. Other addresses go on.
func TestSignupsPerAddress(t *testing.T) {
	ts := startServer(t, nil, "-trust-proxy")
	c := newClient(t, ts)
	signupFrom := func(addr, user, password string) response {
		t.Helper()
		body := url.Values{"username": {user}, "password": {password}}.Encode()
		return c.do("POST", "/signup", strings.NewReader(body), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "X-Forwarded-For": addr})
	}
	const here, elsewhere = "203.0.113.1", "203.0.113.2"
	for i := range maxSignups - 1 {
		wantStatus(t, signupFrom(here, "user"+strconv.Itoa(i), "password"), http.StatusCreated)
		wantStatus(t, signupFrom(here, "x", "short"), http.StatusBadRequest) // counts for nothing
	}
	wantStatus(t, signupFrom(here, "user0", "password"), http.StatusConflict) // the 10th
	r := signupFrom(here, "one-more", "password")
	wantStatus(t, r, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs <= 0 || secs > int(signupWindow.Seconds()) {
		t.Errorf("Retry-After = %q, want 1 to %d seconds", r.Header.Get("Retry-After"), int(signupWindow.Seconds()))
	}
	wantStatus(t, signupFrom(elsewhere, "one-more", "password"), http.StatusCreated)
	wantStatus(t, newClient(t, ts).login("one-more", "password"), http.StatusOK)
}

// Every count lives in Redis: two instances of the app on one Redis count
// together. Failures split across both reach each limit as if they all went
// to one; so do signups.
func TestThrottleIsSharedByInstances(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	a := startServer(t, nil, "-db", db, "-trust-proxy")
	b := startServer(t, nil, "-db", db, "-trust-proxy") // same -db: same Redis
	signUpUsers(t, a)
	ca, cb := newClient(t, a), newClient(t, b)
	const here = "203.0.113.1"
	for i := range maxFailures {
		c := []*client{ca, cb}[i%2]
		wantStatus(t, c.loginFrom(here, "alice", "guess"+strconv.Itoa(i)), http.StatusUnauthorized)
	}
	wantThrottled(t, ca.loginFrom(here, "alice", "wonderland"))
	wantThrottled(t, cb.loginFrom(here, "alice", "wonderland"))

	// 100 failures per address, half on each instance.
	const there = "203.0.113.2"
	for i := range maxAddrFailures {
		c := []*client{ca, cb}[i%2]
		wantStatus(t, c.loginFrom(there, "user"+strconv.Itoa(i), "guess"), http.StatusUnauthorized)
	}
	wantThrottled(t, ca.loginFrom(there, "bob", "the-builder"))
	wantThrottled(t, cb.loginFrom(there, "bob", "the-builder"))

	// 10 signups per address, half on each instance.
	const third = "203.0.113.3"
	signupFrom := func(c *client, user string) response {
		t.Helper()
		body := url.Values{"username": {user}, "password": {"password"}}.Encode()
		return c.do("POST", "/signup", strings.NewReader(body), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "X-Forwarded-For": third})
	}
	for i := range maxSignups {
		wantStatus(t, signupFrom([]*client{ca, cb}[i%2], "new"+strconv.Itoa(i)), http.StatusCreated)
	}
	wantStatus(t, signupFrom(ca, "one-more"), http.StatusTooManyRequests)
	wantStatus(t, signupFrom(cb, "one-more"), http.StatusTooManyRequests)
}

// The counts are Redis keys under -redis-prefix, named by a hash (no
// username or address in clear), each with a TTL of at most its window.
// With Redis down nothing is let through: a guess gets 503, not 401.
func TestThrottleKeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, nil, "-db", db, "-redis-prefix", "app1:")
	signUpUsers(t, ts)
	c := newClient(t, ts)
	wantStatus(t, c.login("alice", "guess"), http.StatusUnauthorized)
	rs := redisOf(t, db)
	rdb := rs.client()
	windows := map[string]time.Duration{"failures": failureWindow, "addr-failures": failureWindow, "signups": signupWindow}
	seen := map[string]int{}
	for key, value := range allKeys(t, rdb) {
		if !strings.HasPrefix(key, "app1:") {
			t.Errorf("key %q is not under -redis-prefix app1:", key)
		}
		name, ok := strings.CutPrefix(key, "app1:throttle:")
		if !ok {
			continue
		}
		if strings.Contains(key, "alice") || strings.Contains(key, "127.0.0.1") || strings.Contains(value, "alice") {
			t.Errorf("throttle key %q = %q names the user or the address", key, value)
		}
		name, _, _ = strings.Cut(name, ":")
		seen[name]++
		if d := pttl(t, rdb, key); d > windows[name] {
			t.Errorf("TTL of %q = %v, want at most %v", key, d, windows[name])
		}
	}
	// One failure for alice: her count and the address's; two signups from one address: one count.
	if seen["failures"] != 1 || seen["addr-failures"] != 1 || seen["signups"] != 1 {
		t.Errorf("throttle keys %v, want one of each limit", seen)
	}

	rs.stop()
	wantStatus(t, c.login("alice", "guess"), http.StatusServiceUnavailable)
	wantStatus(t, c.signup("carol", "carol-password"), http.StatusServiceUnavailable)
}

// Each allowance comes back in full one window after the first attempt
// that used it: the key expires. A count with a one-second window, on a
// real Redis.
func TestLimitsRefillAfterTheWindow(t *testing.T) {
	rs := startRedis(t)
	th := newThrottle(rs.client(), "test:", false, slog.New(slog.DiscardHandler))
	fail := func(n int) (allowed int) {
		for range n {
			if must(th.retryAfter("k", maxFailures)) == 0 {
				must0(t, th.add("k", time.Second))
				allowed++
			}
		}
		return allowed
	}
	if n := fail(maxFailures + 1); n != maxFailures {
		t.Fatalf("%d of %d attempts allowed, want %d", n, maxFailures+1, maxFailures)
	}
	if retryAfter := must(th.retryAfter("k", maxFailures)); retryAfter <= 0 || retryAfter > time.Second {
		t.Errorf("after the limit: Retry-After %v, want within the window", retryAfter)
	}
	waitUntil(t, "the window ends", func() bool { return must(th.retryAfter("k", maxFailures)) == 0 })
	if n := fail(maxFailures + 1); n != maxFailures {
		t.Errorf("one window later, %d of %d attempts allowed, want %d", n, maxFailures+1, maxFailures)
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		remote, forwarded string
		trust             bool
		want              string
	}{
		{"192.0.2.1:5000", "", false, "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.7", false, "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.7", true, "203.0.113.7"},
		{"192.0.2.1:5000", "198.51.100.1, 203.0.113.7", true, "203.0.113.7"},
		{"192.0.2.1:5000", "", true, "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:5000", "", false, "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:5000", "", false, "192.0.2.1"},
		// Forwarded addresses come with or without a port, IPv6 with or
		// without brackets: each is one client, counted by /64.
		{"192.0.2.1:5000", "203.0.113.7:4711", true, "203.0.113.7"},
		{"192.0.2.1:5000", "[2001:db8:1:2::7]", true, "2001:db8:1:2::/64"},
		{"192.0.2.1:5000", "[2001:db8:1:2::8]:4711", true, "2001:db8:1:2::/64"},
		{"192.0.2.1:5000", "2001:db8:1:2::9", true, "2001:db8:1:2::/64"},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tc.remote
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tc.forwarded)
		}
		if got := clientAddr(r, tc.trust); got != tc.want {
			t.Errorf("RemoteAddr %s, X-Forwarded-For %q, trust %v: %q, want %q", tc.remote, tc.forwarded, tc.trust, got, tc.want)
		}
	}
	// Two X-Forwarded-For headers: the last one is our proxy's.
	r := httptest.NewRequest("POST", "/login", nil)
	r.Header.Add("X-Forwarded-For", "203.0.113.7")
	r.Header.Add("X-Forwarded-For", "198.51.100.1")
	if got := clientAddr(r, true); got != "198.51.100.1" {
		t.Errorf("two headers: %q, want the last one's", got)
	}
}
