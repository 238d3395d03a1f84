package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
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

// Parallel guesses are counted too: of 20 sent at once, 5 get 401 and the
// rest 429, however they interleave. Parallel right passwords never get
// 401: an attempt in flight holds its token until it ends, so some may be
// told to wait (429), but at least 5 sign in.
func TestParallelLoginsAreCounted(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	statuses := func(user, password string) map[int]int {
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for range 20 {
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
	// Right logins free their counts as they succeed, so more of them reach
	// the hashing queue than guesses do: when it is full, 503 is the honest
	// answer. A 401 never is.
	if got := statuses("bob", "the-builder"); got[http.StatusOK] == 0 || got[http.StatusOK]+got[http.StatusTooManyRequests]+got[http.StatusServiceUnavailable] != 20 {
		t.Errorf("20 parallel right logins: statuses %v, want some 200 and the rest 429 (or 503 when hashing is full), never 401", got)
	}
	if got := statuses("alice", "guess"); got[http.StatusUnauthorized] != maxFailures || got[http.StatusTooManyRequests] != 20-maxFailures {
		t.Errorf("20 parallel guesses: statuses %v, want %d × 401 and the rest 429", got, maxFailures)
	}
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

// The limiter's memory is bounded: once full, new keys push out the
// entries that matter least (forgiven ones first). A locked key is never
// pushed out while an unlocked one remains, even when nearly every other
// key is locked too, so that filling the table never gives a guesser their
// tries back.
func TestThrottleMemoryIsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	l := newLimiter(maxFailures, failureWindow)
	l.max, l.now = 100, clock.now
	fail := func(key string, times int) {
		for range times {
			if ok, _ := l.allow(key); ok {
				l.count(key)
			}
		}
	}
	locked := func(key string) bool {
		ok, _ := l.allow(key)
		if ok {
			l.cancel(key)
		}
		return !ok
	}
	fail("alice\x00192.0.2.1", maxFailures)
	for i := range 98 { // a table of locked keys...
		fail("user"+strconv.Itoa(i)+"\x00192.0.2.2", maxFailures)
	}
	for i := range 5000 { // ...where one unlocked key makes way for the next
		fail("other"+strconv.Itoa(i)+"\x00192.0.2.3", 1)
		if n := len(l.entries); n > l.max {
			t.Fatalf("%d entries after %d keys, want at most %d", n, i+1, l.max)
		}
	}
	if !locked("alice\x00192.0.2.1") {
		t.Fatal("filling the table unlocked a locked key")
	}
	for i := range 200 { // every entry locked: memory stays bounded all the same
		fail("more"+strconv.Itoa(i)+"\x00192.0.2.4", maxFailures)
		if n := len(l.entries); n > l.max {
			t.Fatalf("%d entries, all locked, want at most %d", n, l.max)
		}
	}

	clock.advance(maxFailures * failureWindow) // everything forgiven
	fail("one more\x00192.0.2.5", 1)
	if n := len(l.entries); n > l.max/2 {
		t.Errorf("%d entries left once all were forgiven, want the idle ones dropped", n)
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
