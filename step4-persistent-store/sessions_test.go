package main

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// Unit tests of the store, with a clock the test moves.

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newTestStore is a store in a new SQLite file, which knows the user alice.
func newTestStore(t *testing.T, idle, maxLife time.Duration) (*SQLiteStore, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	st := NewSQLiteStore(db,
		newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, maxLife), newLifetimes(idle, maxLife), slog.New(slog.NewTextHandler(t.Output(), nil)))
	st.now = clock.now
	if err := newSQLiteUsers(db, st.logger).CreateUser(t.Context(), "alice", []byte("not a real hash")); err != nil {
		t.Fatal(err)
	}
	return st, clock
}

// openTestDB opens a database for a test and closes it after. A database
// that cannot be opened fails the test: it is never a reason to skip.
func openTestDB(t testing.TB, path string) *database {
	t.Helper()
	db, err := openDB(context.Background(), path)
	if err != nil {
		t.Fatalf("open SQLite database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newSession stores a session with values and returns the cookie that names it.
func newSession(t *testing.T, st *SQLiteStore, values map[any]any) *http.Cookie {
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

// lastSeen is the last_seen column of the session's row.
func lastSeen(t *testing.T, st *SQLiteStore, id string) time.Time {
	t.Helper()
	var ms int64
	if err := st.db.QueryRow(`SELECT last_seen FROM sessions WHERE id_hash = ?`, idHash(id)).Scan(&ms); err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(ms)
}

// countSessions is how many rows the sessions table holds, expired or not.
func countSessions(t *testing.T, st *SQLiteStore) int {
	t.Helper()
	var n int
	if err := st.db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A read pushes the idle deadline out at most once per touch interval:
// min(1 minute, idle/4).
func TestTouchIsThrottled(t *testing.T) {
	for _, tc := range []struct {
		idle, wantEvery time.Duration
	}{
		{30 * time.Minute, time.Minute},
		{2 * time.Minute, 30 * time.Second},
	} {
		st, clock := newTestStore(t, tc.idle, 24*time.Hour)
		ck := newSession(t, st, map[any]any{userKey: "alice"})
		s := must(st.Get(requestWith(ck), cookieName))
		start := lastSeen(t, st, s.ID)

		clock.advance(tc.wantEvery - time.Second)
		must(st.Get(requestWith(ck), cookieName))
		if got := lastSeen(t, st, s.ID); !got.Equal(start) {
			t.Errorf("idle %v: a read %v after the last touch rewrote the session", tc.idle, tc.wantEvery-time.Second)
		}
		clock.advance(time.Second)
		s2 := must(st.Get(requestWith(ck), cookieName))
		if got := lastSeen(t, st, s.ID); !got.Equal(clock.t) {
			t.Errorf("idle %v: a read %v after the last touch did not push the deadline", tc.idle, tc.wantEvery)
		}
		if _, exp := sessionTimes(s2); !exp.Equal(clock.t.Add(tc.idle)) {
			t.Errorf("idle %v: expires %v, want now + idle", tc.idle, exp)
		}
	}
}

// expires_at is the earlier of the idle and the absolute deadline.
func TestExpiresIsTheEarlierDeadline(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	start := clock.t
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	for range 10 { // used every 9 minutes for 90 minutes
		s := must(st.Get(requestWith(ck), cookieName))
		if s.IsNew {
			if clock.t.Before(start.Add(time.Hour)) {
				t.Fatalf("session ended at %v, before its absolute deadline", clock.t.Sub(start))
			}
			return
		}
		created, expires := sessionTimes(s)
		want := clock.t.Add(10 * time.Minute)
		if absolute := created.Add(time.Hour); absolute.Before(want) {
			want = absolute
		}
		if !expires.Equal(want) {
			t.Fatalf("at %v: expires %v, want %v", clock.t.Sub(start), expires, want)
		}
		clock.advance(9 * time.Minute)
	}
	t.Fatal("session outlived its absolute deadline")
}

// A session keeps the idle timeout it was issued with: after a restart with
// a longer -idle-timeout, its touches and saves still push its deadline out
// by the old one (a shorter one would apply at once).
func TestRestartNeverLengthensTheIdleTimeout(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	st.life = newLifetimes(time.Hour, 24*time.Hour) // the restart
	for _, save := range []bool{false, true} {
		clock.advance(5 * time.Minute)
		s := must(st.Get(requestWith(ck), cookieName)) // touches
		if save {
			must0(t, st.Save(requestWith(ck), httptest.NewRecorder(), s))
			s = must(st.Get(requestWith(ck), cookieName))
		}
		if _, exp := sessionTimes(s); !exp.Equal(clock.t.Add(10 * time.Minute)) {
			t.Fatalf("after a restart with -idle-timeout 1h (save %v): expires %v, want now + the issued 10m", save, exp.Sub(clock.t))
		}
	}
	clock.advance(11 * time.Minute)
	if s := must(st.Get(requestWith(ck), cookieName)); !s.IsNew {
		t.Fatal("the session outlived its issued idle timeout")
	}
}

// A request that read the session before a logout must not write it back.
func TestSaveNeverResurrects(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})

	slow := must(st.Get(requestWith(ck), cookieName)) // a slow request reads...
	logout := must(st.Get(requestWith(ck), cookieName))
	logout.Options.MaxAge = -1
	if err := st.Save(requestWith(ck), httptest.NewRecorder(), logout); err != nil { // ...logout deletes...
		t.Fatal(err)
	}
	slow.Values[visitsKey] = 99
	w := httptest.NewRecorder()
	if err := st.Save(requestWith(ck), w, slow); err != nil { // ...the slow one saves.
		t.Fatal(err)
	}
	if s := must(st.Get(requestWith(ck), cookieName)); !s.IsNew {
		t.Fatal("the deleted session came back")
	}
	if n := countSessions(t, st); n != 0 || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("the late save stored something (%d sessions) or set a cookie", n)
	}
}

// Two requests of one session never share a Values map.
func TestGetReturnsACopy(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	ck := newSession(t, st, map[any]any{visitsKey: 1})
	a := must(st.Get(requestWith(ck), cookieName))
	a.Values[visitsKey] = 2
	if b := must(st.Get(requestWith(ck), cookieName)); b.Values[visitsKey] != 1 {
		t.Fatalf("an unsaved change leaked into another request: %v", b.Values[visitsKey])
	}
}

func TestSweepDeletesOnlyExpired(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	old := newSession(t, st, nil)
	clock.advance(8 * time.Minute)
	newSession(t, st, nil)
	clock.advance(3 * time.Minute) // the first is 11 minutes idle, the second 3
	must0(t, st.Sweep(t.Context(), clock.t))
	if n := countSessions(t, st); n != 1 {
		t.Fatalf("%d sessions left after the sweep, want 1", n)
	}
	if s := must(st.Get(requestWith(old), cookieName)); !s.IsNew {
		t.Fatal("the swept session is still served")
	}
}

// signID signs id as the server would with secret: a cookie for an id that
// the server never issued.
func signID(t testing.TB, secret, id string) string {
	t.Helper()
	v, err := securecookie.EncodeMulti(sessionCookieName, []byte(id), cookieCodecs([][]byte{must(decodeBase64(secret))})...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// decodeWith checks a cookie value against SESSION_SECRET value secrets.
func decodeWith(t testing.TB, secrets, cookie string) (string, bool) {
	t.Helper()
	var keys [][]byte
	for _, s := range strings.Split(secrets, ",") {
		keys = append(keys, must(decodeBase64(s)))
	}
	sc := newSessionCookies(keys, true, time.Hour)
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookieName, Value: cookie})
	return sc.readID(r, cookieName)
}

// decodeAllBase64 undoes every layer of base64 it can, to look inside a cookie.
func decodeAllBase64(s string) string {
	out := s
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == '.' }) {
		if b, err := base64.URLEncoding.DecodeString(part); err == nil {
			out += "|" + decodeAllBase64(string(b))
		}
	}
	return out
}

// Whatever the cookie holds, Get answers an anonymous session or the real
// one, never an error or a panic, and never a session it did not issue.
func FuzzGetCookie(f *testing.F) {
	db := openTestDB(f, filepath.Join(f.TempDir(), "app.db"))
	st := NewSQLiteStore(db,
		newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, 24*time.Hour), newLifetimes(time.Hour, 24*time.Hour), slog.New(slog.DiscardHandler))
	r := httptest.NewRequest("GET", "/", nil)
	s := must(st.New(r, cookieName))
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
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAA.")
	f.Add("." + good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", sessionCookieName+"="+value)
		got, err := st.Get(req, cookieName)
		if err != nil {
			t.Fatalf("Get returned an error for a bad cookie: %v", err)
		}
		if !got.IsNew && got.ID != s.ID {
			t.Fatalf("cookie %q named a session the store never issued", value)
		}
	})
}
