package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// cookieName names the session, and so its cookie (see nameFor). The cookie
// holds a signed, opaque id and nothing else: the data stays on the server.
const cookieName = "session"

// Keys of Session.Values that the handlers use.
const (
	userKey   = "user"
	visitsKey = "visits"
)

// metaKey marks facts that a store itself puts in Session.Values on Get
// (when the session began and when it will end). Save ignores them.
type metaKey int

const (
	createdAtKey metaKey = iota
	expiresAtKey
)

// sessionStore is what the handlers need from a session store: gorilla's
// Store, a way to give a session a new id, the sessions of one user, and a
// health check.
//
// Every store of this project guarantees what the contract asks:
//   - ids are 128 random bits from crypto/rand, made by the store only; an id
//     the store does not hold (forged, expired, deleted) is never adopted;
//   - Get treats a bad cookie as an anonymous visitor (a new session, no
//     error) and returns an error only when the store itself fails;
//   - a session ends after the idle timeout without use and after the maximum
//     lifetime in any case, checked by the store, whatever the cookie says;
//   - a read does not write, except to push the idle deadline out, at most
//     once per touch interval;
//   - Save of an existing session updates it and never brings back a deleted
//     one; Options.MaxAge < 0 (gorilla's convention) deletes it instead,
//     and expires its cookie (only that, for a session not stored yet).
type sessionStore interface {
	sessions.Store
	// RenewID deletes the session from the store and forgets its id, so that
	// the next Save stores its values under a new id and sets a new cookie.
	// Call it whenever a session gains rights (login): an id planted before
	// login by someone else (session fixation) is then worth nothing.
	RenewID(r *http.Request, s *sessions.Session) error
	// UserSessions lists the live sessions of user; currentID, the id of the
	// asking request's session, marks which one is current.
	UserSessions(ctx context.Context, user, currentID string) ([]sessionInfo, error)
	// DeleteUserSession deletes the session of user whose handle (see
	// sessionInfo) is handle, and says whether there was one.
	DeleteUserSession(ctx context.Context, user, handle string) (bool, error)
	// DeleteUserSessions deletes every session of user but the one whose id
	// is exceptID ("" deletes them all).
	DeleteUserSessions(ctx context.Context, user, exceptID string) error
	// Ping says whether the store answers, for /healthz.
	Ping(ctx context.Context) error
}

// sessionInfo is what a user may see of one of their sessions: never its id.
// Handle names the session (to revoke it) and opens nothing: it is the hash
// the store keys the session by (sessionHandle), and nobody can turn a hash
// back into the id that a cookie must carry. /sessions shows it as JSON
// under these names; the stores give its times in UTC, to the second.
type sessionInfo struct {
	Handle    string    `json:"id"`
	Created   time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	UserAgent string    `json:"user_agent"`
	Current   bool      `json:"current"` // the session of the request that asks
}

// sessionCookies makes and reads the session cookie: a random id, signed with
// gorilla/securecookie under a key from SESSION_SECRET. The id has nothing to
// hide, so it is not encrypted; the signature turns a forged or edited cookie
// away before the store is even asked.
type sessionCookies struct {
	codecs  []securecookie.Codec // the first signs, all verify
	options sessions.Options
}

// newSessionCookies makes the session cookie's codecs from the secrets, and
// its options: Secure when secure, and a lifetime of maxAge.
func newSessionCookies(secrets [][]byte, secure bool, maxAge time.Duration) sessionCookies {
	return sessionCookies{
		codecs: cookieCodecs(secrets),
		// Every option is set on purpose: gorilla's defaults (no HttpOnly,
		// 30 days) are not what a login cookie wants.
		options: sessions.Options{
			Path:     "/",
			MaxAge:   int(maxAge.Seconds()),
			Secure:   secure,
			HttpOnly: true,                 // no script can read it
			SameSite: http.SameSiteLaxMode, // not sent on cross-site POSTs
		},
	}
}

// nameFor is the name of the cookie that carries the session called name:
// "__Host-" + name when the cookie is Secure. A browser keeps a __Host-
// cookie only if it is Secure, has Path=/ and no Domain, so no other host
// (a sibling subdomain, say) can plant one on this one.
func (sc sessionCookies) nameFor(name string) string {
	if sc.options.Secure {
		return "__Host-" + name
	}
	return name
}

// newSession is a session that is not stored yet.
func (sc sessionCookies) newSession(store sessions.Store, name string) *sessions.Session {
	s := sessions.NewSession(store, name)
	*s.Options = sc.options // a copy: a handler's change stays in this session
	s.IsNew = true
	return s
}

// readID returns the id in the request's cookie when one of the keys signed
// it.
func (sc sessionCookies) readID(r *http.Request, name string) (string, bool) {
	name = sc.nameFor(name)
	var id []byte
	c, err := r.Cookie(name)
	if err == nil {
		err = securecookie.DecodeMulti(name, c.Value, &id, sc.codecs...)
	}
	return string(id), err == nil && len(id) > 0
}

// write sets the cookie that carries id.
func (sc sessionCookies) write(w http.ResponseWriter, s *sessions.Session, id string) error {
	name := sc.nameFor(s.Name())
	encoded, err := securecookie.EncodeMulti(name, []byte(id), sc.codecs...)
	if err != nil {
		return fmt.Errorf("sign session cookie: %w", err)
	}
	http.SetCookie(w, sessions.NewCookie(name, encoded, s.Options))
	return nil
}

// expire tells the browser to drop the cookie (Max-Age=0).
func (sc sessionCookies) expire(w http.ResponseWriter, s *sessions.Session) {
	http.SetCookie(w, sessions.NewCookie(sc.nameFor(s.Name()), "", s.Options))
}

// defaultMaxAnonymous is how many new anonymous sessions (sessions without a
// user, such as a visit count) a store creates per idle timeout, so at most
// twice that many live at once. Past it, a new visitor gets no session and
// no cookie (/visits counts nothing), so that a flood of cookieless requests
// cannot grow the store without end; signed-in sessions are never refused or
// evicted for it. At a few hundred bytes a session, 200,000 of them are tens
// of megabytes.
const defaultMaxAnonymous = 100_000

// lifetimes are the two deadlines of every session.
type lifetimes struct {
	idleTimeout time.Duration // sliding: pushed out by use
	maxLifetime time.Duration // absolute: counted from the sign-in
	touchEvery  time.Duration // how often a read may push the idle deadline
}

func newLifetimes(idleTimeout, maxLifetime time.Duration) lifetimes {
	return lifetimes{
		idleTimeout: idleTimeout,
		maxLifetime: maxLifetime,
		touchEvery:  min(time.Minute, idleTimeout/4),
	}
}

// expiresAt is the real end of a session: the earlier of its idle and its
// absolute deadline.
func (l lifetimes) expiresAt(created, lastSeen time.Time) time.Time {
	idle := lastSeen.Add(l.idleTimeout)
	absolute := created.Add(l.maxLifetime)
	if idle.Before(absolute) {
		return idle
	}
	return absolute
}

// setTimes records in s the facts that Get and Save know about it.
func setTimes(s *sessions.Session, created, expires time.Time) {
	s.Values[createdAtKey] = created
	s.Values[expiresAtKey] = expires
}

// sessionTimes returns when the session began and when it will end.
func sessionTimes(s *sessions.Session) (created, expires time.Time) {
	created, _ = s.Values[createdAtKey].(time.Time)
	expires, _ = s.Values[expiresAtKey].(time.Time)
	return created, expires
}
