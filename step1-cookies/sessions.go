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

// Keys of Session.Values.
const (
	userKey      = "user"
	createdAtKey = "created_at" // the sign-in, in Unix seconds: set by Save, sealed with the rest
)

// visitsCookie is the other cookie, the one /visits counts in: a plain
// number, neither signed nor encrypted, so that anyone can read and edit it.
const visitsCookie = "visits"

// sessionStore is what the handlers need from a session store: gorilla's
// Store.
//
// The store of this step guarantees what the contract asks of a cookie:
//   - Get treats a bad cookie (tampered, truncated, made with a secret the
//     server no longer has, or expired) as an anonymous visitor (a new
//     session, no error);
//   - a session ends maxLifetime after sign-in, checked by the server against
//     the time sealed in the cookie, whatever the browser keeps; saving
//     again does not push it out;
//   - a read does not write;
//   - Options.MaxAge < 0 (gorilla's convention) expires the cookie. That is
//     all a logout can do: the server keeps nothing it could delete.
type sessionStore = sessions.Store

// sessionCookies makes and reads the session cookie: the session's data,
// encrypted and signed with keys from SESSION_SECRET, so that nobody can read
// it and a forged or edited cookie is turned away.
type sessionCookies struct {
	codecs  []securecookie.Codec
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

// readValues returns the values sealed in the request's cookie when one of
// the keys signed it and it decrypts.
func (sc sessionCookies) readValues(r *http.Request, name string) (map[any]any, bool) {
	name = sc.nameFor(name)
	values := make(map[any]any)
	c, err := r.Cookie(name)
	if err == nil {
		err = securecookie.DecodeMulti(name, c.Value, &values, sc.codecs...)
	}
	return values, err == nil
}

// write sets the cookie that carries values.
func (sc sessionCookies) write(w http.ResponseWriter, s *sessions.Session, values map[any]any) error {
	name := sc.nameFor(s.Name())
	encoded, err := securecookie.EncodeMulti(name, values, sc.codecs...)
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

// sessionTimes returns when the session began (its sign-in) and when it
// ends.
func sessionTimes(s *sessions.Session) (created, expires time.Time) {
	signIn, _ := s.Values[createdAtKey].(int64)
	created = time.Unix(signIn, 0)
	return created, created.Add(maxLifetime)
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
	return &CookieStore{cookies: cookies, now: time.Now}
}

// New returns a new, empty session: Save puts it in a cookie.
func (st *CookieStore) New(r *http.Request, name string) (*sessions.Session, error) {
	return st.cookies.newSession(st, name), nil
}

// Get returns the session in the request's cookie, or a new one when there
// is no cookie or it is bad or expired.
func (st *CookieStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s := st.cookies.newSession(st, name)
	values, ok := st.cookies.readValues(r, name)
	// The server says when the session ends: maxLifetime after the login
	// time sealed in the cookie.
	signIn, _ := values[createdAtKey].(int64)
	if !ok || !st.now().Before(time.Unix(signIn, 0).Add(maxLifetime)) {
		return s, nil
	}
	s.Values, s.IsNew = values, false
	return s, nil
}

// Save seals the whole session into its cookie, or expires the cookie.
func (st *CookieStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Options.MaxAge < 0 {
		st.cookies.expire(w, s)
		return nil
	}
	// The lifetime counts from the first Save (the sign-in): that time is
	// sealed in the cookie, and saving again keeps it.
	if _, ok := s.Values[createdAtKey]; !ok {
		s.Values[createdAtKey] = st.now().Unix()
	}
	return st.cookies.write(w, s, s.Values)
}
