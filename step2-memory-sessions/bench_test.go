package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// Benchmarks of the hot paths. They measure; they assert nothing about
// speed (that is BENCHMARKS.md's job). CI runs them once (-benchtime=1x) so
// that they keep compiling and working:
//
//	go test -run '^$' -bench . -benchmem

// benchSession is a store holding one signed-in session, and its cookie.
func benchSession(b *testing.B) (*MemoryStore, *http.Cookie) {
	st := NewMemoryStore(newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, 24*time.Hour), newLifetimes(30*time.Minute, 24*time.Hour))
	r := httptest.NewRequest("GET", "/", nil)
	s := must(st.New(r, cookieName))
	s.Values[userKey] = "alice"
	w := httptest.NewRecorder()
	if err := st.Save(r, w, s); err != nil {
		b.Fatal(err)
	}
	return st, w.Result().Cookies()[0]
}

// The read of a signed-in request: cookie → signature → session → user.
func BenchmarkSessionRead(b *testing.B) {
	st, ck := benchSession(b)
	r := httptest.NewRequest("GET", "/me", nil)
	r.AddCookie(ck)
	b.ReportAllocs()
	for b.Loop() {
		s, err := st.Get(r, cookieName)
		if err != nil || s.Values[userKey] != "alice" {
			b.Fatal("lost the session")
		}
	}
}

// A write of an existing session (what /visits does).
func BenchmarkSessionWrite(b *testing.B) {
	st, ck := benchSession(b)
	r := httptest.NewRequest("GET", "/visits", nil)
	r.AddCookie(ck)
	s := must(st.Get(r, cookieName))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Values[visitsKey] = i
		if err := st.Save(r, w, s); err != nil {
			b.Fatal(err)
		}
	}
}

// A read that pushes the idle deadline (at most once a minute per session).
func BenchmarkSessionTouch(b *testing.B) {
	st, ck := benchSession(b)
	st.life.maxLifetime = 100 * 365 * 24 * time.Hour // the clock below runs fast
	clock := time.Now()
	st.now = func() time.Time { return clock }
	r := httptest.NewRequest("GET", "/me", nil)
	r.AddCookie(ck)
	b.ReportAllocs()
	for b.Loop() {
		clock = clock.Add(time.Minute) // every read is due for a touch
		if s := must(st.Get(r, cookieName)); s.IsNew {
			b.Fatal("lost the session")
		}
	}
}

// The whole /me handler, middleware included (the log goes to io.Discard).
func BenchmarkMe(b *testing.B) {
	st, ck := benchSession(b)
	h := newServer(slog.New(slog.NewTextHandler(io.Discard, nil)), st)
	r := httptest.NewRequest("GET", "/me", nil)
	r.AddCookie(ck)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("/me: %d", w.Code)
		}
	}
}

// Memory per idle anonymous session (one /visits visit each), 20,000 of them.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const n = 20_000
	for b.Loop() {
		st, _ := benchSession(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := httptest.NewRequest("GET", "/visits", nil)
		for range n {
			s := must(st.New(r, cookieName))
			s.Values[visitsKey] = 1
			if err := st.Save(r, discardWriter{}, s); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/session")
		runtime.KeepAlive(st)
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so that the
// memory benchmark counts the store and not 20,000 recorded responses.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
