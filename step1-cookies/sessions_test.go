package main

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// Unit tests of the store, with a clock the test moves.

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestStore(t *testing.T) (*CookieStore, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	st := NewCookieStore(newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, maxLifetime))
	st.now = clock.now
	return st, clock
}

// newSession stores a session with values and returns the cookie that holds it.
func newSession(t *testing.T, st *CookieStore, values map[any]any) *http.Cookie {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	s := must(st.New(r, cookieName))
	for k, v := range values {
		s.Values[k] = v
	}
	w := httptest.NewRecorder()
	if err := st.Save(r, w, s); err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Save of a new session set %d cookies, want 1", len(cookies))
	}
	return cookies[0]
}

func requestWith(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

// A session ends maxLifetime after the first Save (the login), on the
// server's clock; saving it again does not push that out.
func TestSessionEndsAfterMaxLifetime(t *testing.T) {
	st, clock := newTestStore(t)
	start := clock.t
	ck := newSession(t, st, map[any]any{userKey: "alice"})

	clock.advance(time.Hour)
	s := must(st.Get(requestWith(ck), cookieName))
	created, expires := sessionTimes(s)
	if s.IsNew || s.Values[userKey] != "alice" || !created.Equal(start) || !expires.Equal(start.Add(maxLifetime)) {
		t.Fatalf("an hour after login: new=%v user=%v created=%v expires=%v", s.IsNew, s.Values[userKey], created, expires)
	}
	w := httptest.NewRecorder()
	if err := st.Save(requestWith(ck), w, s); err != nil {
		t.Fatal(err)
	}
	resaved := w.Result().Cookies()[0]

	clock.advance(maxLifetime - time.Hour - time.Second)
	for _, c := range []*http.Cookie{ck, resaved} {
		if s := must(st.Get(requestWith(c), cookieName)); s.IsNew {
			t.Fatal("the session ended before maxLifetime")
		}
	}
	clock.advance(time.Second)
	for _, c := range []*http.Cookie{ck, resaved} {
		if s := must(st.Get(requestWith(c), cookieName)); !s.IsNew {
			t.Fatalf("the session outlived maxLifetime (re-saved: %v)", c == resaved)
		}
	}
}

// sealData seals values as the server would with secret: a cookie that the
// server never issued, with whatever values and login time the test likes.
func sealData(t testing.TB, secret string, values map[any]any, created time.Time) string {
	t.Helper()
	values[createdAtKey] = created.Unix()
	key := must(decodeBase64(secret))
	v, err := securecookie.EncodeMulti(sessionCookieName, values, cookieCodecs([][]byte{key})...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// decodeWith checks a cookie value against SESSION_SECRET value secrets.
func decodeWith(t testing.TB, secrets, cookie string) (map[any]any, bool) {
	t.Helper()
	var keys [][]byte
	for _, s := range strings.Split(secrets, ",") {
		keys = append(keys, must(decodeBase64(s)))
	}
	values := make(map[any]any)
	err := securecookie.DecodeMulti(sessionCookieName, cookie, &values, cookieCodecs(keys)...)
	return values, err == nil
}

// decodeAllBase64 undoes every layer of base64 it can, to look inside a cookie.
func decodeAllBase64(s string) string {
	out := s
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' }) {
		if b, err := base64.URLEncoding.DecodeString(part); err == nil {
			out += "|" + decodeAllBase64(string(b))
		}
	}
	return out
}

// Whatever the cookie holds, Get answers an anonymous session or the real
// one, never an error or a panic, and never a session it did not issue.
func FuzzDecodeCookie(f *testing.F) {
	st := NewCookieStore(newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, maxLifetime))
	r := httptest.NewRequest("GET", "/", nil)
	s := must(st.New(r, cookieName))
	s.Values[userKey] = "alice"
	w := httptest.NewRecorder()
	if err := st.Save(r, w, s); err != nil {
		f.Fatal(err)
	}
	good := w.Result().Cookies()[0].Value
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add("")
	f.Add("|||")
	f.Add(strings.Repeat("A", 4096))
	f.Add(base64.URLEncoding.EncodeToString([]byte("1700000000|AAAA|mac")))
	f.Add(sealData(f, base64.StdEncoding.EncodeToString([]byte("ffffffffffffffffffffffffffffffff")), map[any]any{userKey: "bob"}, time.Now()))
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", sessionCookieName+"="+value)
		got, err := st.Get(req, cookieName)
		if err != nil {
			t.Fatalf("Get returned an error for a bad cookie: %v", err)
		}
		if !got.IsNew && got.Values[userKey] != "alice" {
			t.Fatalf("cookie %q named a session the store never issued", value)
		}
	})
}
