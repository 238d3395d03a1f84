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

// Failed logins allowed for one username from one client address: at most
// maxFailures within failureWindow.
const (
	maxFailures   = 5
	failureWindow = 15 * time.Minute
	// maxThrottled bounds the memory: about 200 bytes per entry.
	maxThrottled = 100_000
)

// throttle slows down password guessing: after maxFailures failed logins
// for one username from one client address, more attempts with that pair
// get 429 until the window has passed, even with the right password (else
// the answer would still tell a guesser when they found it).
//
// Keyed by username and address together, it stops one client from
// guessing one account's password, yet a guesser cannot lock the real
// user out from elsewhere. It does not stop someone with many addresses,
// or who tries one password on many usernames: that is what slow hashes
// and good passwords are for.
//
// Each key has a token bucket (golang.org/x/time/rate) of maxFailures
// tokens that refills one token per failureWindow, so that no 15 minutes
// see more than 5 failures.
type throttle struct {
	trustProxy bool
	max        int              // entries kept at most
	now        func() time.Time // replaced in tests

	mu      sync.Mutex
	ended   *sync.Cond // signalled when an attempt in flight ends
	entries map[[sha256.Size]byte]*attempts
}

// attempts is what the throttle knows about one key.
type attempts struct {
	failures *rate.Limiter
	inFlight int // allowed, password not checked yet
}

func newThrottle(trustProxy bool) *throttle {
	t := &throttle{
		trustProxy: trustProxy,
		max:        maxThrottled,
		now:        time.Now,
		entries:    make(map[[sha256.Size]byte]*attempts),
	}
	t.ended = sync.NewCond(&t.mu)
	return t
}

// key names the pair of username and client address that r comes from.
func (t *throttle) key(r *http.Request, username string) string {
	return username + "\x00" + clientAddr(r, t.trustProxy)
}

// allow lets one attempt for key go on, or says how long until the next
// one may. Every allowed attempt must end in failed or succeeded.
//
// Attempts still in flight count as failures until they end: were they
// counted only after the password check, a hundred parallel guesses would
// all pass the check before the first one failed. So when every attempt
// left is in flight, allow waits for one of them to end.
func (t *throttle) allow(key string) (ok bool, retryAfter time.Duration) {
	id := sha256.Sum256([]byte(key)) // a fixed size, whatever the client sent
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		now := t.now()
		a := t.entry(id, now)
		left := a.failures.TokensAt(now)
		if left < 1 {
			return false, time.Duration((1 - left) / float64(a.failures.Limit()) * float64(time.Second))
		}
		if left-float64(a.inFlight) >= 1 {
			a.inFlight++
			return true, 0
		}
		t.ended.Wait()
	}
}

// failed ends an attempt for key that did not sign in, and counts it.
func (t *throttle) failed(key string) {
	id := sha256.Sum256([]byte(key))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.entry(id, now)
	a.failures.AllowN(now, 1)
	a.inFlight = max(0, a.inFlight-1)
	t.ended.Broadcast()
}

// succeeded ends an attempt for key that signed in: its failures are
// forgotten.
func (t *throttle) succeeded(key string) {
	id := sha256.Sum256([]byte(key))
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.entries[id]; ok {
		a.inFlight--
		a.failures = newFailureLimiter()
		if a.inFlight <= 0 {
			delete(t.entries, id)
		}
	}
	t.ended.Broadcast()
}

func newFailureLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Every(failureWindow), maxFailures)
}

// entry returns the attempts for id, new ones if there are none. t.mu is held.
func (t *throttle) entry(id [sha256.Size]byte, now time.Time) *attempts {
	if a, ok := t.entries[id]; ok {
		return a
	}
	if len(t.entries) >= t.max {
		t.evict(now)
	}
	a := &attempts{failures: newFailureLimiter()}
	t.entries[id] = a
	return a
}

// evict makes room for one entry. It looks at a few entries (map order is
// random), drops those whose failures are all forgiven (idle: nothing is
// lost), and if that was none, the one closest to forgiven. Looking at
// all of them would make each new key cost a full scan once the map is
// full. Entries with attempts in flight stay. t.mu is held.
func (t *throttle) evict(now time.Time) {
	const sample = 64
	var victim [sha256.Size]byte
	found, most, seen := false, -1.0, 0
	for id, a := range t.entries {
		if seen++; seen > sample {
			break
		}
		if a.inFlight > 0 {
			continue
		}
		left := a.failures.TokensAt(now)
		if left >= maxFailures {
			delete(t.entries, id)
		} else if left > most {
			victim, most, found = id, left, true
		}
	}
	if found && len(t.entries) >= t.max {
		delete(t.entries, victim)
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
