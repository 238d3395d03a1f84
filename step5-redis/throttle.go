package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
//
// Every count lives in Redis, so that all the instances of the app count
// together: behind a load balancer, N instances must not mean N times the
// guesses. When Redis cannot count, the attempt is refused (503): a
// throttle that lets everything through while Redis is down is no throttle.
type throttle struct {
	trustProxy   bool
	failures     *limiter // failed logins per username and address
	addrFailures *limiter // failed logins per address
	signups      *limiter // signups per address
}

func newThrottle(client redis.UniversalClient, cfg config, logger *slog.Logger) *throttle {
	prefix := cmp.Or(cfg.redisPrefix, defaultRedisPrefix) + "throttle:"
	return &throttle{
		trustProxy:   cfg.trustProxy,
		failures:     &limiter{client, prefix + "failures:", maxFailures, failureWindow, logger},
		addrFailures: &limiter{client, prefix + "addr-failures:", maxAddrFailures, failureWindow, logger},
		signups:      &limiter{client, prefix + "signups:", maxSignups, signupWindow, logger},
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
// An error means that Redis could not count: the attempt is not allowed.
func (t *throttle) allow(ctx context.Context, k loginKey) (ok bool, retryAfter time.Duration, err error) {
	if ok, retryAfter, err := t.addrFailures.allow(ctx, k.addr); !ok {
		return false, retryAfter, err
	}
	if ok, retryAfter, err := t.failures.allow(ctx, k.pair); !ok {
		t.addrFailures.cancel(k.addr)
		return false, retryAfter, err
	}
	return true, 0, nil
}

// failed ends an attempt that did not sign in: it counts for both limits,
// as it has since it was allowed.
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

// limiter allows at most limit counted attempts per key within window, in
// one Redis counter per key: <prefix>throttle:<limit's name>:<sha256(key),
// hex> (a fixed size whatever the client sent, and no address or username
// kept in clear). The first attempt of a window creates the counter with
// the window as its TTL; when Redis deletes it, the window is over. That
// is a fixed window, not step 4's token bucket: a guesser who waits for
// the end of one may spend two windows' tries within a short time, but
// each counter is one key, changed by one atomic command, which works on a
// Cluster too.
//
// An attempt counts from the moment it is allowed: were it counted only
// when it ends, a hundred parallel guesses, on one instance or many, would
// all pass the check before the first one failed. An attempt that ends
// without counting (a success, or a password never checked) gives its
// count back.
type limiter struct {
	client redis.UniversalClient
	prefix string // of its keys
	limit  int
	window time.Duration
	logger *slog.Logger
}

var (
	// allowScript counts an attempt in the counter's window, opening one
	// if there is none, and takes it back if that makes too many. It
	// returns 0 when the attempt may go on, else the milliseconds until
	// the window ends. KEYS[1]: the counter; ARGV: the limit, the window
	// (ms).
	allowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n <= tonumber(ARGV[1]) then return 0 end
redis.call('DECR', KEYS[1])
return math.max(redis.call('PTTL', KEYS[1]), 1)`)

	// cancelScript gives an attempt back to the counter, unless its window
	// has ended already (a DECR then would make a counter of -1 with no
	// TTL: a free attempt forever). KEYS[1]: the counter.
	cancelScript = redis.NewScript(`
if redis.call('PTTL', KEYS[1]) > 0 then redis.call('DECR', KEYS[1]) end
return 0`)
)

func (l *limiter) counter(key string) string {
	sum := sha256.Sum256([]byte(key))
	return l.prefix + hex.EncodeToString(sum[:])
}

// allow lets one attempt for key go on, or says how long until the next
// one may. Every allowed attempt must end in count, forget or cancel.
func (l *limiter) allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	ms, err := allowScript.Run(ctx, l.client, []string{l.counter(key)}, l.limit, l.window.Milliseconds()).Int64()
	if err != nil {
		if !errors.Is(ctx.Err(), context.Canceled) { // a request whose client left is no failure of ours
			l.logger.Error("redis: throttle", "err", err)
		}
		return false, 0, fmt.Errorf("throttle: %w", err)
	}
	return ms == 0, time.Duration(ms) * time.Millisecond, nil
}

// count ends an attempt for key that counts: it did from the start.
func (l *limiter) count(key string) {}

// forget ends an attempt for key, and forgets every count before it.
func (l *limiter) forget(key string) {
	l.end(func(ctx context.Context) error { return l.client.Del(ctx, l.counter(key)).Err() })
}

// cancel ends an attempt for key without counting it.
func (l *limiter) cancel(key string) {
	l.end(func(ctx context.Context) error {
		return cancelScript.Run(ctx, l.client, []string{l.counter(key)}).Err()
	})
}

// end runs what ends an attempt, even when its request has gone: its client
// leaving does not make the attempt count. A failure is logged, and costs
// at most one count too many, until the window ends.
func (l *limiter) end(do func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := do(ctx); err != nil {
		l.logger.Error("redis: throttle", "err", err)
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
