package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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

func newThrottle(client redis.UniversalClient, redisPrefix string, trustProxy bool, logger *slog.Logger) *throttle {
	prefix := redisPrefix + "throttle:"
	return &throttle{
		trustProxy:   trustProxy,
		failures:     &limiter{client, prefix + "failures:", maxFailures, failureWindow, logger},
		addrFailures: &limiter{client, prefix + "addr-failures:", maxAddrFailures, failureWindow, logger},
		signups:      &limiter{client, prefix + "signups:", maxSignups, signupWindow, logger},
	}
}

// limiter counts failures per key in a fixed window, in Redis, so that
// every instance sees the same counts: at most limit of them within window
// of the first. The whole allowance comes back when the window ends.
// (Across a window's edge, up to twice the limit can pass: enough to stop
// guessing, and far simpler than a sliding window.) Each key has two
// counters: failures, which expire with the window (INCR, then EXPIRE NX:
// the window starts at the first failure), and attempts in flight.
type limiter struct {
	client redis.UniversalClient
	prefix string // of its keys
	limit  int
	window time.Duration
	logger *slog.Logger
}

// errLimited: the key has used its allowance (429, Retry-After).
var errLimited = errors.New("too many attempts")

// beginScript starts an attempt, or says why not: {0} started, {1, ms}
// limited for ms more, {2} busy. One script, so that two instances cannot
// both take the last place.
var beginScript = redis.NewScript(`
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures >= tonumber(ARGV[1]) then return {1, redis.call('PTTL', KEYS[1])} end
if failures + tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then return {2, 0} end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {0, 0}`)

// keys are the failures and in-flight counters of key. They share a hash
// tag, so that a Redis Cluster keeps them in one slot, as the script needs.
func (l *limiter) keys(key string) (failures, inFlight string) {
	tag := l.prefix + "{" + key + "}:"
	return tag + "failures", tag + "in-flight"
}

// begin starts an attempt for key. It fails with errLimited and the time
// left in the window once the allowance is used, with errBusy while the
// attempts in flight could use it, and with an error when Redis fails.
// Every attempt begun must end.
func (l *limiter) begin(ctx context.Context, key string) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	failures, inFlight := l.keys(key)
	// An attempt in flight ends within a request's time: should its
	// instance die first, the counter goes a minute later.
	res, err := beginScript.Run(ctx, l.client, []string{failures, inFlight}, l.limit, time.Minute.Milliseconds()).Int64Slice()
	switch {
	case err != nil:
		if !errors.Is(ctx.Err(), context.Canceled) { // a request whose client left is no failure of ours
			l.logger.Error("redis: throttle", "err", err)
		}
		return 0, fmt.Errorf("throttle: %w", err)
	case res[0] == 1:
		return time.Duration(max(res[1], 1)) * time.Millisecond, errLimited
	case res[0] == 2:
		return time.Second, errBusy
	}
	return 0, nil
}

// end ends an attempt for key; one that counts (a failure) uses one of the
// key's allowance.
func (l *limiter) end(key string, counts bool) {
	failures, inFlight := l.keys(key)
	l.do(func(ctx context.Context, p redis.Pipeliner) {
		p.Decr(ctx, inFlight)
		if counts {
			p.Incr(ctx, failures)
			p.ExpireNX(ctx, failures, l.window)
		}
	})
}

// forget ends an attempt for key, and every failure before it.
func (l *limiter) forget(key string) {
	failures, inFlight := l.keys(key)
	l.do(func(ctx context.Context, p redis.Pipeliner) {
		p.Decr(ctx, inFlight)
		p.Del(ctx, failures)
	})
}

// do runs commands that end an attempt, whatever happened to the request
// (its client may have left): a failure is logged, and the counts are off
// by one until they expire.
func (l *limiter) do(cmds func(ctx context.Context, p redis.Pipeliner)) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if _, err := l.client.TxPipelined(ctx, func(p redis.Pipeliner) error { cmds(ctx, p); return nil }); err != nil {
		l.logger.Error("redis: throttle", "err", err)
	}
}

// attempt is one login attempt's keys in the throttle.
type attempt struct{ pair, addr string }

// begin starts a login attempt for username from the request's address
// (see limiter.begin).
func (t *throttle) begin(r *http.Request, username string) (a attempt, retryAfter time.Duration, err error) {
	addr := clientAddr(r, t.trustProxy)
	a = attempt{pair: hashKey(username, addr), addr: hashKey(addr)}
	if retryAfter, err = t.addrFailures.begin(r.Context(), a.addr); err != nil {
		return a, retryAfter, err
	}
	if retryAfter, err = t.failures.begin(r.Context(), a.pair); err != nil {
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
