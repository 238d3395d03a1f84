package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Benchmarks of the hot paths. They measure; they assert nothing about
// speed (that is BENCHMARKS.md's job). CI runs them once (-benchtime=1x) so
// that they keep compiling and working:
//
//	go test -run '^$' -bench . -benchmem

// benchSession is a store in a redis-server of its own (on a unix socket)
// holding one signed-in session, and its cookie.
func benchSession(b *testing.B) (*RedisStore, *http.Cookie) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := NewRedisStore(startRedis(b).client(), defaultRedisPrefix,
		// A session keeps the deadline it was issued with, and
		// BenchmarkSessionTouch's clock runs fast: a lifetime it never reaches.
		newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, 100*365*24*time.Hour), newLifetimes(30*time.Minute, 100*365*24*time.Hour), logger)
	r := httptest.NewRequest("GET", "/", nil)
	s := must(st.New(r, cookieName))
	s.Values[userKey] = "alice"
	w := httptest.NewRecorder()
	if err := st.Save(r, w, s); err != nil {
		b.Fatal(err)
	}
	return st, w.Result().Cookies()[0]
}

// countCommands counts the Redis commands that st sends from now on;
// reportCommands reports them per operation, as redis-cmds/op.
func countCommands(st *RedisStore) *commandCounter {
	cmds := &commandCounter{}
	st.client.AddHook(cmds)
	return cmds
}

func reportCommands(b *testing.B, cmds *commandCounter) {
	b.ReportMetric(float64(len(cmds.take()))/float64(b.N), "redis-cmds/op")
}

// benchDB is a database file holding the user alice, for the benchmarks of
// whole handlers.
func benchDB(b *testing.B) *database {
	db := openTestDB(b, filepath.Join(b.TempDir(), "app.db"))
	if err := newSQLiteUsers(db, slog.New(slog.DiscardHandler)).CreateUser(b.Context(), "alice", []byte("hash")); err != nil {
		b.Fatal(err)
	}
	return db
}

// The read of a signed-in request: cookie → signature → session → user.
func BenchmarkSessionRead(b *testing.B) {
	st, ck := benchSession(b)
	r := httptest.NewRequest("GET", "/me", nil)
	r.AddCookie(ck)
	cmds := countCommands(st)
	b.ReportAllocs()
	for b.Loop() {
		s, err := st.Get(r, cookieName)
		if err != nil || s.Values[userKey] != "alice" {
			b.Fatal("lost the session")
		}
	}
	reportCommands(b, cmds)
}

// A write of an existing session (what /visits does).
func BenchmarkSessionWrite(b *testing.B) {
	st, ck := benchSession(b)
	r := httptest.NewRequest("GET", "/visits", nil)
	r.AddCookie(ck)
	s := must(st.Get(r, cookieName))
	w := httptest.NewRecorder()
	must0(b, st.Save(r, w, s)) // Redis learns the script before the count starts
	cmds := countCommands(st)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Values[visitsKey] = i
		if err := st.Save(r, w, s); err != nil {
			b.Fatal(err)
		}
	}
	reportCommands(b, cmds)
}

// A read that pushes the idle deadline (at most once a minute per session).
func BenchmarkSessionTouch(b *testing.B) {
	st, ck := benchSession(b)
	clock := time.Now()
	st.now = func() time.Time { return clock }
	r := httptest.NewRequest("GET", "/me", nil)
	r.AddCookie(ck)
	clock = clock.Add(time.Minute)
	must(st.Get(r, cookieName)) // Redis learns the script before the count starts
	cmds := countCommands(st)
	b.ReportAllocs()
	for b.Loop() {
		clock = clock.Add(time.Minute) // every read is due for a touch
		if s := must(st.Get(r, cookieName)); s.IsNew {
			b.Fatal("lost the session")
		}
	}
	reportCommands(b, cmds)
}

// The whole /me handler, middleware included (the log goes to io.Discard).
func BenchmarkMe(b *testing.B) {
	st, ck := benchSession(b)
	db := benchDB(b)
	h := newServer(st.logger, st, newSQLiteUsers(db, st.logger), newHasher(bcrypt.MinCost), newThrottle(st.client, st.prefix, false, st.logger), db)
	r := httptest.NewRequest("GET", "/me", nil)
	r.AddCookie(ck)
	cmds := countCommands(st)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("/me: %d", w.Code)
		}
	}
	reportCommands(b, cmds)
}

// benchCost is the cost the benchmarks use: go test -run '^$' -bench
// 'Login|BcryptCompare' -bcrypt-cost 12
var benchCost = flag.Int("bcrypt-cost", 10, "bcrypt cost for the benchmarks")

// BenchmarkLogin is a whole POST /login, from request to response (with a
// session saved, when it signs in). Compared with BenchmarkBcryptCompare at
// the same cost, it shows what the login adds to bcrypt; its three cases
// should take the same time, or the time would tell which users exist.
func BenchmarkLogin(b *testing.B) {
	h := newHasher(*benchCost)
	store, _ := benchSession(b)
	db := benchDB(b)
	users := newSQLiteUsers(db, store.logger)
	if err := users.SetPassword(b.Context(), "alice", []byte("hash"), h.Hash("wonderland")); err != nil {
		b.Fatal(err)
	}
	srv := newServer(store.logger, store, users, h, newThrottle(store.client, store.prefix, false, store.logger), db)
	for _, bc := range []struct {
		name, body string
		want       int
	}{
		{"right password", `{"username":"alice","password":"wonderland"}`, http.StatusOK},
		{"wrong password", `{"username":"alice","password":"not-wonderland"}`, http.StatusUnauthorized},
		{"unknown user", `{"username":"mallory","password":"wonderland"}`, http.StatusUnauthorized},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				req := httptest.NewRequest("POST", "/login", strings.NewReader(bc.body))
				req.Header.Set("Content-Type", "application/json")
				req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", i>>16&255, i>>8&255, i&255) // never throttled
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != bc.want {
					b.Fatalf("login: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkBcryptCompare is bcrypt alone, at the cost of BenchmarkLogin.
func BenchmarkBcryptCompare(b *testing.B) {
	hash := must(bcrypt.GenerateFromPassword([]byte("wonderland"), *benchCost))
	for b.Loop() {
		if err := bcrypt.CompareHashAndPassword(hash, []byte("wonderland")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBcryptCost prints how long one hash takes at each cost on this
// machine, to choose -bcrypt-cost:
//
//	go test -run '^$' -bench BcryptCost -benchtime 3x
func BenchmarkBcryptCost(b *testing.B) {
	for cost := 8; cost <= 14; cost++ {
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			for b.Loop() {
				must(bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), cost))
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/hash")
			b.ReportMetric(0, "ns/op") // ms/hash says it in a unit people read
		})
	}
}

// Redis memory per idle anonymous session (one /visits visit each), 20,000
// of them: how much Redis' used_memory grows.
func BenchmarkIdleSessionRedis(b *testing.B) {
	const n = 20_000
	for b.Loop() {
		st, _ := benchSession(b)
		used := func() int64 {
			info := st.client.Info(b.Context(), "memory").Val()
			for line := range strings.Lines(info) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
					return must(strconv.ParseInt(v, 10, 64))
				}
			}
			b.Fatalf("no used_memory in INFO memory:\n%s", info)
			return 0
		}
		before := used()
		r := httptest.NewRequest("GET", "/visits", nil)
		for range n {
			s := must(st.New(r, cookieName))
			s.Values[visitsKey] = 1
			if err := st.Save(r, discardWriter{}, s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(used()-before)/n, "bytes/session")
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so that the
// benchmark does not also record 20,000 responses.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
