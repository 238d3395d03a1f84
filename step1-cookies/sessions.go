package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// cookieName names the session, and so the cookie that signs a user in (see
// nameFor). It holds the session's data itself (who signed in, and when),
// encrypted and signed: the browser keeps it but can neither read nor change
// it.
const cookieName = "session"

// Keys of Session.Values that the handlers use.
const (
	userKey = "user"
)

// visitsCookie is the other cookie, the one /visits counts in: a plain
// number, neither signed nor encrypted, so that anyone can read and edit it.
const visitsCookie = "visits"

// metaKey marks facts that a store itself puts in Session.Values on Get
// (when the session began and when it will end). Save ignores them.
type metaKey int

const (
	createdAtKey metaKey = iota
	expiresAtKey
)

// sessionStore is what the handlers need from a session store: gorilla's
// Store.
//
// The store of this step guarantees what the contract asks of a cookie:
//   - Get treats a bad cookie (tampered, truncated, made with a secret the
//     server no longer has, or expired) as an anonymous visitor (a new
//     session, no error);
//   - a session ends maxLifetime after sign-in, checked by the server against
//     the time sealed in the cookie, whatever the browser keeps;
//   - a read does not write;
//   - Options.MaxAge < 0 (gorilla's convention) expires the cookie. That is
//     all a logout can do: the server keeps nothing it could delete.
type sessionStore interface {
	sessions.Store
}

// sessionCookies makes and reads the session cookie: the session's data,
// encrypted and signed with keys from SESSION_SECRET, so that nobody can read
// it and a forged or edited cookie is turned away.
type sessionCookies struct {
	codecs  []securecookie.Codec
	options sessions.Options
}

// cookieData is what the session cookie carries: the whole session.
type cookieData struct {
	Values  map[any]any
	Created time.Time // the sign-in; the session ends maxLifetime after it
}

// newSessionCookies makes the session cookie's codecs from the secrets, and
// its options: Secure when secure, and a lifetime of maxAge.
func newSessionCookies(secrets [][]byte, secure bool, maxAge time.Duration) sessionCookies {
	return sessionCookies{
		codecs: cookieCodecs(secrets, int(maxAge.Seconds())),
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
	opts := sc.options
	s.Options = &opts
	s.IsNew = true
	return s
}

// readData returns the data in the request's cookie when its signature is
// good, it decrypts and it is not older than the maximum lifetime.
func (sc sessionCookies) readData(r *http.Request, name string) (cookieData, bool) {
	name = sc.nameFor(name)
	c, err := r.Cookie(name)
	if err != nil {
		return cookieData{}, false
	}
	var data cookieData
	if err := securecookie.DecodeMulti(name, c.Value, &data, sc.codecs...); err != nil {
		return cookieData{}, false
	}
	return data, true
}

// write sets the cookie that carries data.
func (sc sessionCookies) write(w http.ResponseWriter, s *sessions.Session, data cookieData) error {
	name := sc.nameFor(s.Name())
	encoded, err := securecookie.EncodeMulti(name, data, sc.codecs...)
	if err != nil {
		return fmt.Errorf("seal session cookie: %w", err)
	}
	http.SetCookie(w, sessions.NewCookie(name, encoded, s.Options))
	return nil
}

// expire tells the browser to drop the cookie (Max-Age=0).
func (sc sessionCookies) expire(w http.ResponseWriter, s *sessions.Session) {
	http.SetCookie(w, sessions.NewCookie(sc.nameFor(s.Name()), "", s.Options))
}

// maxLifetime is how long a sign-in lasts, counted from the login: the cookie
// tells the browser (Max-Age), and the login time sealed inside it tells the
// server, which refuses the cookie after that. Nothing shorter is possible:
// the server cannot end a session it does not keep.
const maxLifetime = 24 * time.Hour

// storedValues is what Save keeps: the handlers' values, without the facts
// that Get added.
func storedValues(v map[any]any) map[any]any {
	out := make(map[any]any, len(v))
	for k, val := range v {
		if _, ok := k.(metaKey); !ok {
			out[k] = val
		}
	}
	return out
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

// CookieStore is a gorilla/sessions Store that keeps each session in its own
// cookie, as gorilla's CookieStore does: the server keeps nothing at all.
//
// Its weakness is step 2's subject: what the server does not keep, it cannot
// delete. A copy of the cookie taken before logout keeps working after it,
// until maxLifetime runs out; and the data lives on the client (encrypted,
// but the client holds it).
type CookieStore struct {
	cookies sessionCookies
	now     func() time.Time // replaced in tests
}

// NewCookieStore returns a store whose session cookies are cookies (see
// newSessionCookies), lasting maxLifetime.
func NewCookieStore(cookies sessionCookies) *CookieStore {
	return &CookieStore{
		cookies: cookies,
		now:     time.Now,
	}
}

// New returns a new, empty session: Save puts it in a cookie.
func (st *CookieStore) New(r *http.Request, name string) (*sessions.Session, error) {
	return st.cookies.newSession(st, name), nil
}

// Get returns the session in the request's cookie, or a new one when there
// is no cookie or it is bad or expired.
func (st *CookieStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s := st.cookies.newSession(st, name)
	data, ok := st.cookies.readData(r, name)
	if !ok {
		return s, nil
	}
	expires := data.Created.Add(maxLifetime)
	if !st.now().Before(expires) {
		return s, nil
	}
	if data.Values == nil {
		data.Values = make(map[any]any)
	}
	s.Values, s.IsNew = data.Values, false
	setTimes(s, data.Created, expires)
	return s, nil
}

// Save writes the whole session into its cookie, or expires the cookie.
func (st *CookieStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Options != nil && s.Options.MaxAge < 0 {
		st.cookies.expire(w, s)
		return nil
	}
	// The lifetime counts from the first Save (the sign-in); saving again
	// does not extend it.
	created, _ := sessionTimes(s)
	if created.IsZero() {
		created = st.now()
	}
	data := cookieData{Values: storedValues(s.Values), Created: created}
	if err := st.cookies.write(w, s, data); err != nil {
		return err
	}
	s.IsNew = false
	setTimes(s, created, created.Add(maxLifetime))
	return nil
}
