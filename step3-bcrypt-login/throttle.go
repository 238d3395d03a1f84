package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
// An attempt that has started but not ended counts as a failure to come,
// so that a hundred guesses sent at once cannot all pass the check before
// the first one fails: those that could go over the limit are told to try
// again shortly (503), not that they failed. A password that was never
// checked (the server was busy, or the client left) counts for nothing.
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

// limiter counts failures per key in a fixed window: at most limit of them
// within window of the first. The whole allowance comes back when the
// window ends. (Across a window's edge, up to twice the limit can pass:
// enough to stop guessing, and far simpler than a sliding window.)
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time // a test's clock

	mu   sync.Mutex
	keys map[string]*window
}

// window is what a limiter knows of one key.
type window struct {
	failures int
	ends     time.Time // when failures are forgotten
	inFlight int       // attempts begun, not ended
}

// errLimited: the key has used its allowance (429, Retry-After).
var errLimited = errors.New("too many attempts")

func newLimiter(limit int, d time.Duration) *limiter {
	return &limiter{limit: limit, window: d, now: time.Now, keys: make(map[string]*window)}
}

// begin starts an attempt for key. It fails with errLimited and the time
// left in the window once the allowance is used, and with errBusy while
// the attempts in flight could use it. Every attempt begun must end.
func (l *limiter) begin(key string) (retryAfter time.Duration, err error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	if w == nil {
		if len(l.keys) >= maxKeys && !l.sweep(now) {
			return l.window, errLimited // full of live windows: refuse rather than forget one
		}
		w = &window{}
		l.keys[key] = w
	}
	if !now.Before(w.ends) {
		w.failures = 0
	}
	switch {
	case w.failures >= l.limit:
		return w.ends.Sub(now), errLimited
	case w.failures+w.inFlight >= l.limit:
		return time.Second, errBusy
	}
	w.inFlight++
	return 0, nil
}

// end ends an attempt for key; one that counts (a failure) uses one of the
// key's allowance.
func (l *limiter) end(key string, counts bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	w.inFlight--
	if counts {
		if w.failures == 0 || !now.Before(w.ends) {
			w.failures, w.ends = 0, now.Add(l.window) // the window starts at the first failure
		}
		w.failures++
	}
	if w.inFlight == 0 && (w.failures == 0 || !now.Before(w.ends)) {
		delete(l.keys, key)
	}
}

// forget ends an attempt for key, and every failure before it.
func (l *limiter) forget(key string) {
	l.mu.Lock()
	l.keys[key].failures = 0
	l.mu.Unlock()
	l.end(key, false)
}

// sweep drops the windows that have ended, and says whether that made
// room. l.mu is held.
func (l *limiter) sweep(now time.Time) bool {
	for key, w := range l.keys {
		if w.inFlight == 0 && !now.Before(w.ends) {
			delete(l.keys, key)
		}
	}
	return len(l.keys) < maxKeys
}

// attempt is one login attempt's keys in the throttle.
type attempt struct{ pair, addr string }

// begin starts a login attempt for username from the request's address
// (see limiter.begin).
func (t *throttle) begin(r *http.Request, username string) (a attempt, retryAfter time.Duration, err error) {
	addr := clientAddr(r, t.trustProxy)
	a = attempt{pair: hashKey(username, addr), addr: hashKey(addr)}
	if retryAfter, err = t.addrFailures.begin(a.addr); err != nil {
		return a, retryAfter, err
	}
	if retryAfter, err = t.failures.begin(a.pair); err != nil {
		t.addrFailures.end(a.addr, false)
	}
	return a, retryAfter, err
}

// outcome is how a login attempt ended.
type outcome int

const (
	attemptFailed    outcome = iota // a wrong password: it counts
	attemptSucceeded                // the pair's failures are forgotten, not the address's
	attemptUnchecked                // the password was never checked: it counts for nothing
)

// end ends a login attempt. A success does not forget the address's
// failures, or signing in to one's own account between guesses would.
func (t *throttle) end(a attempt, o outcome) {
	if o == attemptSucceeded {
		t.failures.forget(a.pair)
	} else {
		t.failures.end(a.pair, o == attemptFailed)
	}
	t.addrFailures.end(a.addr, o == attemptFailed)
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
