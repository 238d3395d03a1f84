package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
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
	// maxKeys bounds the throttle's memory (about 200 bytes per key).
	maxKeys = 300_000
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
	trustProxy bool

	mu     sync.Mutex
	counts map[string]count // by purpose and key: "failures:", "addr-failures:", "signups:"
}

// count is a key's attempts in a fixed window: each limit allows so many
// within its window of the first, and the whole allowance comes back when
// the window ends. (Across a window's edge, up to twice the limit can pass:
// enough to stop guessing, and far simpler than a sliding window.)
type count struct {
	n    int
	ends time.Time
}

func newThrottle(trustProxy bool) *throttle {
	return &throttle{trustProxy: trustProxy, counts: make(map[string]count)}
}

// loginRetryAfter says how long logins for username from addr must wait:
// 0 while both the pair and the address have allowance left.
func (t *throttle) loginRetryAfter(username, addr string) (time.Duration, error) {
	pair, pairErr := t.retryAfter("failures:"+hashKey(username, addr), maxFailures)
	all, allErr := t.retryAfter("addr-failures:"+hashKey(addr), maxAddrFailures)
	return max(pair, all), errors.Join(pairErr, allErr)
}

// loginChecked counts a checked login: a failure for the pair and for the
// address, or a success, which forgets the pair's failures but not the
// address's (or signing in to one's own account between guesses would).
func (t *throttle) loginChecked(username, addr string, ok bool) error {
	if ok {
		return t.reset("failures:" + hashKey(username, addr))
	}
	return errors.Join(t.add("failures:"+hashKey(username, addr), failureWindow),
		t.add("addr-failures:"+hashKey(addr), failureWindow))
}

// signupAllowed counts a signup from addr, if the address has allowance
// left, and else says how long it must wait.
func (t *throttle) signupAllowed(addr string) (time.Duration, error) {
	key := "signups:" + hashKey(addr)
	if wait, err := t.retryAfter(key, maxSignups); err != nil || wait > 0 {
		return wait, err
	}
	return 0, t.add(key, signupWindow)
}

// retryAfter is 0 while key has fewer than limit attempts in its window,
// else the time until the window ends.
func (t *throttle) retryAfter(key string, limit int) (time.Duration, error) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.counts[key]
	if !ok && len(t.counts) >= maxKeys {
		// Full: drop the windows that have ended. Still full, refuse a new
		// key rather than forget one that may be locked.
		maps.DeleteFunc(t.counts, func(_ string, c count) bool { return !now.Before(c.ends) })
		if len(t.counts) >= maxKeys {
			return failureWindow, nil
		}
	}
	if c.n < limit || !now.Before(c.ends) {
		return 0, nil
	}
	return c.ends.Sub(now), nil
}

// add counts an attempt for key.
func (t *throttle) add(key string, window time.Duration) error {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counts[key]
	if !now.Before(c.ends) {
		c = count{ends: now.Add(window)} // the window opens at the first attempt
	}
	c.n++
	t.counts[key] = c
	return nil
}

// reset forgets key's attempts.
func (t *throttle) reset(key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.counts, key)
	return nil
}

// hashKey makes a key of a fixed size out of what a client sent.
func hashKey(parts ...string) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte(strings.Join(parts, "\x00"))))
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
	if addr = addr.Unmap().WithZone(""); addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.String()
	}
	return addr.String()
}
