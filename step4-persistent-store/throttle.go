package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// The limits: at most so many attempts per key within a window.
const (
	// Failed logins for one username from one client address.
	maxFailures   = 5
	failureWindow = 15 * time.Minute
	// Failed logins from one client address, whatever the usernames.
	maxAddrFailures = 100
	// Signups from one client address (those that reach hashing).
	maxSignups   = 10
	signupWindow = time.Hour
	// maxKeys bounds each limiter's memory (about 150 bytes per key).
	maxKeys = 100_000
)

// throttle slows down password guessing and account creation, with three
// limits:
//
//   - After maxFailures failed logins for one username from one client
//     address, more attempts with that pair get 429 until the window has
//     passed, even with the right password (else the answer would still
//     tell a guesser when they found it). Keyed by username and address
//     together, it stops one client from guessing one account's password,
//     yet a guesser cannot lock the real user out from elsewhere.
//   - After maxAddrFailures failed logins from one address, whatever the
//     usernames, that address gets 429: one password tried on many
//     accounts costs as many tries. A success does not reset it (or
//     signing in to one's own account between guesses would).
//   - After maxSignups signups from one address, that address gets 429:
//     each costs a hash, and 409 tells whether a name is taken.
//
// The handlers check and count inside the address's turn to hash (see
// hasher.turn), where its requests come one at a time: a hundred guesses
// sent at once are checked one after the other, and the sixth failure for
// a pair is never checked. A password that was never checked (the server
// was busy, or the client left) counts for nothing.
//
// None of them stops someone with many addresses: that is what slow hashes
// and good passwords are for. The methods return errors for a throttle
// kept in a database; this one, in memory, never fails.
type throttle struct {
	trustProxy   bool
	failures     *limiter // failed logins per username and address
	addrFailures *limiter // failed logins per address
	signups      *limiter // signups per address
}

func newThrottle(trustProxy bool) *throttle {
	return &throttle{
		trustProxy:   trustProxy,
		failures:     newLimiter(maxFailures, failureWindow),
		addrFailures: newLimiter(maxAddrFailures, failureWindow),
		signups:      newLimiter(maxSignups, signupWindow),
	}
}

// loginRetryAfter says how long logins for username from addr must wait:
// 0 while both the pair and the address have allowance left.
func (t *throttle) loginRetryAfter(username, addr string) (time.Duration, error) {
	return max(t.failures.retryAfter(hashKey(username, addr)), t.addrFailures.retryAfter(hashKey(addr))), nil
}

// loginChecked counts a checked login: a failure for the pair and for the
// address, or a success, which forgets the pair's failures but not the
// address's (or signing in to one's own account between guesses would).
func (t *throttle) loginChecked(username, addr string, ok bool) error {
	if ok {
		t.failures.reset(hashKey(username, addr))
		return nil
	}
	t.failures.add(hashKey(username, addr))
	t.addrFailures.add(hashKey(addr))
	return nil
}

// signupRetryAfter says how long signups from addr must wait.
func (t *throttle) signupRetryAfter(addr string) (time.Duration, error) {
	return t.signups.retryAfter(hashKey(addr)), nil
}

// signupCounted counts a signup from addr.
func (t *throttle) signupCounted(addr string) error {
	t.signups.add(hashKey(addr))
	return nil
}

// limiter counts attempts per key in a fixed window: at most limit of them
// within window of the first. The whole allowance comes back when the
// window ends. (Across a window's edge, up to twice the limit can pass:
// enough to stop guessing, and far simpler than a sliding window.)
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time // a test's clock

	mu     sync.Mutex
	counts map[string]count
}

// count is a key's attempts in its window.
type count struct {
	n    int
	ends time.Time
}

func newLimiter(limit int, window time.Duration) *limiter {
	return &limiter{limit: limit, window: window, now: time.Now, counts: make(map[string]count)}
}

// retryAfter is 0 while key has allowance left, else the time until its
// window ends.
func (l *limiter) retryAfter(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.counts[key]
	if !ok && len(l.counts) >= maxKeys && !l.sweep(now) {
		return l.window // full of live windows: refuse rather than forget one
	}
	if c.n < l.limit || !now.Before(c.ends) {
		return 0
	}
	return c.ends.Sub(now)
}

// add counts an attempt for key.
func (l *limiter) add(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts[key]
	if !now.Before(c.ends) {
		c = count{ends: now.Add(l.window)} // the window opens at the first attempt
	}
	c.n++
	l.counts[key] = c
}

// reset forgets key's attempts.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.counts, key)
}

// sweep drops the windows that have ended, and says whether that made
// room. l.mu is held.
func (l *limiter) sweep(now time.Time) bool {
	for key, c := range l.counts {
		if !now.Before(c.ends) {
			delete(l.counts, key)
		}
	}
	return len(l.counts) < maxKeys
}

// hashKey makes a key of a fixed size out of what a client sent.
func hashKey(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// clientAddr is the address that limits count against: the connection's,
// or behind a reverse proxy (trustProxy) the last entry of X-Forwarded-For.
// Each proxy appends the address it got the request from, and a client can
// write anything before that, so only the last entry, the one our own
// proxy added, is true. (Behind two proxies it would be the last but one;
// -trust-proxy without a proxy lets anyone pick their address.) IPv6
// addresses count by /64, the block one subscriber gets.
func clientAddr(r *http.Request, trustProxy bool) string {
	s := r.RemoteAddr
	if values := r.Header.Values("X-Forwarded-For"); trustProxy && len(values) > 0 {
		last := values[len(values)-1]
		s = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
	}
	// An address may come as ip, ip:port, [ipv6] or [ipv6]:port.
	addr, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if ap, perr := netip.ParseAddrPort(s); perr == nil {
		addr, err = ap.Addr(), nil
	}
	if err != nil {
		return s
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.String()
	}
	return addr.String()
}
