package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
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

// fail makes n attempts for key, each checked then counted, and says how
// many were allowed.
func fail(th *throttle, key string, limit int, window time.Duration, n int) (allowed int) {
	for range n {
		if wait, err := th.retryAfter(key, limit); err == nil && wait == 0 {
			th.add(key, window)
			allowed++
		}
	}
	return allowed
}

// Each allowance comes back in full one window after the first attempt
// that used it: 100 failed logins from an address, then 100 more 15
// minutes later (not one every 15 minutes); likewise 5 for a pair and 10
// signups an hour. (The clock is synctest's: time.Sleep moves it.)
func TestLimitsRefillAfterTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			limit  int
			window time.Duration
		}{{maxAddrFailures, failureWindow}, {maxFailures, failureWindow}, {maxSignups, signupWindow}} {
			th := newThrottle(false)
			if n := fail(th, "k", tc.limit, tc.window, tc.limit+1); n != tc.limit {
				t.Fatalf("limit %d: %d of %d attempts allowed", tc.limit, n, tc.limit+1)
			}
			time.Sleep(tc.window / 3)
			if got, _ := th.retryAfter("k", tc.limit); got != tc.window*2/3 {
				t.Errorf("limit %d: a third into the window, Retry-After %v, want %v", tc.limit, got, tc.window*2/3)
			}
			time.Sleep(tc.window * 2 / 3)
			if n := fail(th, "k", tc.limit, tc.window, tc.limit+1); n != tc.limit {
				t.Errorf("limit %d: one window later, %d of %d attempts allowed, want %d", tc.limit, n, tc.limit+1, tc.limit)
			}
		}
	})
}

// The throttle's memory is bounded: when it holds maxKeys live windows, a
// new key is refused (429) rather than a locked one forgotten, so that
// filling the table never gives a guesser their tries back; windows that
// have ended make room.
func TestThrottleMemoryIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(false)
		fail(th, "alice", maxFailures, failureWindow, maxFailures)
		for i := range maxKeys - 1 {
			fail(th, strconv.Itoa(i), maxFailures, failureWindow, 1)
		}
		if got, _ := th.retryAfter("one too many", maxFailures); got != failureWindow {
			t.Errorf("a new key in a full table: Retry-After %v, want the window, %v", got, failureWindow)
		}
		if wait, _ := th.retryAfter("alice", maxFailures); wait == 0 {
			t.Error("a locked key in a full table was let through")
		}
		time.Sleep(failureWindow)
		if n := fail(th, "one more", maxFailures, failureWindow, 1); n != 1 {
			t.Error("a new key once every window has passed was refused")
		}
		if len(th.counts) != 1 {
			t.Errorf("%d keys kept once every window had passed, want 1", len(th.counts))
		}
	})
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
