package main

import (
	"crypto/sha256"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
	// maxThrottled bounds each limit's memory: about 200 bytes per entry.
	maxThrottled = 100_000
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
//     each costs a hash, and 409 tells whether a name is taken. A signup
//     counts once it has been hashed, whatever its answer; one that is
//     refused before (400, or 503 while busy) costs nothing and counts
//     for nothing.
//
// None of them stops someone with many addresses: that is what slow hashes
// and good passwords are for.
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

// loginKey names the username and the client address of a login attempt.
type loginKey struct{ pair, addr string }

func (t *throttle) key(r *http.Request, username string) loginKey {
	addr := clientAddr(r, t.trustProxy)
	return loginKey{pair: username + "\x00" + addr, addr: addr}
}

// allow lets one login attempt go on, or says how long until the next one
// may. Every allowed attempt must end in failed, succeeded or abandoned.
func (t *throttle) allow(k loginKey) (ok bool, retryAfter time.Duration) {
	if ok, retryAfter := t.addrFailures.allow(k.addr); !ok {
		return false, retryAfter
	}
	if ok, retryAfter := t.failures.allow(k.pair); !ok {
		t.addrFailures.cancel(k.addr)
		return false, retryAfter
	}
	return true, 0
}

// failed ends an attempt that did not sign in: it counts for both limits.
func (t *throttle) failed(k loginKey) {
	t.failures.count(k.pair)
	t.addrFailures.count(k.addr)
}

// succeeded ends an attempt that signed in: the username's failures from
// this address are forgotten, the address's are not.
func (t *throttle) succeeded(k loginKey) {
	t.failures.forget(k.pair)
	t.addrFailures.cancel(k.addr)
}

// abandoned ends an attempt whose password was never checked (the server
// was too busy, or the client left while it waited). It does not count for
// the username, so that a flood from elsewhere cannot lock a real user out
// of their account; it counts for the address, or a flood that keeps the
// hashing queue full would never be throttled.
func (t *throttle) abandoned(k loginKey) {
	t.failures.cancel(k.pair)
	t.addrFailures.count(k.addr)
}

// limiter allows at most limit counted attempts per key within window.
// Each key has a token bucket (golang.org/x/time/rate) of limit tokens
// that refills one token per window, so that no window sees many more.
//
// Attempts still in flight count as spent until they end: were they
// counted only when they end, a hundred parallel guesses would all pass
// the check before the first one failed. So an attempt that finds every
// token left taken by attempts in flight is refused too, rather than made
// to wait for them.
type limiter struct {
	limit  int
	window time.Duration
	max    int              // entries kept at most
	now    func() time.Time // replaced in tests

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*attempts
}

// attempts is what a limiter knows about one key.
type attempts struct {
	tokens   *rate.Limiter
	inFlight int // allowed, not ended yet
}

func newLimiter(limit int, window time.Duration) *limiter {
	return &limiter{
		limit:   limit,
		window:  window,
		max:     maxThrottled,
		now:     time.Now,
		entries: make(map[[sha256.Size]byte]*attempts),
	}
}

// allow lets one attempt for key go on, or says how long until the next
// one may. Every allowed attempt must end in count, forget or cancel.
func (l *limiter) allow(key string) (ok bool, retryAfter time.Duration) {
	id := sha256.Sum256([]byte(key)) // a fixed size, whatever the client sent
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.entry(id, now)
	free := a.tokens.TokensAt(now) - float64(a.inFlight)
	if free < 1 {
		return false, time.Duration((1 - free) * float64(l.window))
	}
	a.inFlight++
	return true, 0
}

// count ends an attempt for key, and counts it.
func (l *limiter) count(key string) {
	id := sha256.Sum256([]byte(key))
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.entry(id, now)
	a.tokens.AllowN(now, 1)
	a.inFlight = max(0, a.inFlight-1)
}

// forget ends an attempt for key, and forgets every count before it.
func (l *limiter) forget(key string) {
	id := sha256.Sum256([]byte(key))
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.entries[id]; ok {
		a.inFlight--
		a.tokens = l.newTokens()
		if a.inFlight <= 0 {
			delete(l.entries, id)
		}
	}
}

// cancel ends an attempt for key without counting it.
func (l *limiter) cancel(key string) {
	id := sha256.Sum256([]byte(key))
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.entries[id]; ok {
		a.inFlight = max(0, a.inFlight-1)
	}
}

func (l *limiter) newTokens() *rate.Limiter {
	return rate.NewLimiter(rate.Every(l.window), l.limit)
}

// entry returns the attempts for id, new ones if there are none. l.mu is held.
func (l *limiter) entry(id [sha256.Size]byte, now time.Time) *attempts {
	if a, ok := l.entries[id]; ok {
		return a
	}
	if len(l.entries) >= l.max {
		l.evict(now)
	}
	a := &attempts{tokens: l.newTokens()}
	l.entries[id] = a
	return a
}

// evict makes room for one entry, and never by forgetting a locked key (no
// token left) while an unlocked one remains: else whoever fills the table
// with new keys would get their locked key's tries back. Map order is
// random, so the first entries it sees are a sample: it drops those with
// every token back (idle: nothing is lost), else the one with the most
// tokens left. Only when every entry of the sample is locked does it look
// further, through the whole table if need be; when every entry is locked,
// the one closest to its next token goes. Entries with attempts in flight
// stay. l.mu is held.
func (l *limiter) evict(now time.Time) {
	const sample = 64
	var victim [sha256.Size]byte
	dropped, found, most, seen := false, false, 0.0, 0
	for id, a := range l.entries {
		if seen >= sample && (dropped || most >= 1) {
			break
		}
		seen++
		if a.inFlight > 0 {
			continue
		}
		left := a.tokens.TokensAt(now)
		if left >= float64(l.limit) {
			delete(l.entries, id)
			dropped = true
		} else if !found || left > most {
			victim, most, found = id, left, true
		}
	}
	if !dropped && found {
		delete(l.entries, victim)
	}
}

// clientAddr is the address failed logins are counted against: the
// connection's, or behind a reverse proxy (trustProxy) the last entry of
// X-Forwarded-For. Each proxy appends the address it got the request from,
// and a client can write anything before that, so only the last entry,
// the one our own proxy added, is true. (Behind two proxies it would be
// the last but one; -trust-proxy without a proxy lets anyone pick their
// address.) IPv6 addresses count by /64, the block one subscriber gets.
func clientAddr(r *http.Request, trustProxy bool) string {
	s := r.RemoteAddr
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	if trustProxy {
		if values := r.Header.Values("X-Forwarded-For"); len(values) > 0 {
			last := values[len(values)-1]
			s = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
		}
	}
	addr, err := netip.ParseAddr(s)
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
