package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load tool against a small stand-in server: it signs users up, sends
// their cookies on /me, and reports what the server answered. (The real
// steps are measured by scripts/bench, not by tests: timings never belong in
// tests.)
func TestLoadToolSignsUpThenDrivesTheRoute(t *testing.T) {
	var signups, withCookie, without atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/signup":
			signups.Add(1)
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "id-" + r.RemoteAddr})
			w.WriteHeader(http.StatusCreated)
		case "/me":
			if _, err := r.Cookie("session"); err == nil {
				withCookie.Add(1)
				return
			}
			without.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	var out, progress bytes.Buffer
	err := run(t.Context(), []string{"-target", srv.URL, "-users", "3", "-route", "/me", "-rate", "50", "-duration", "1s", "-json", "-label", "x"}, &out, &progress)
	if err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s", err, out.String())
	}
	if signups.Load() != 3 {
		t.Errorf("signed up %d users, want 3", signups.Load())
	}
	if without.Load() != 0 || withCookie.Load() == 0 {
		t.Errorf("/me requests with cookie %d, without %d: every request should carry a user's cookie", withCookie.Load(), without.Load())
	}
	if res.Label != "x" || res.Requests != uint64(withCookie.Load()) || res.Statuses["200"] != int(res.Requests) || res.P99 <= 0 {
		t.Errorf("result does not match what the server saw (%d requests): %+v", withCookie.Load(), res)
	}
	if !strings.Contains(progress.String(), "signing in 3 users") {
		t.Errorf("no progress shown:\n%s", progress.String())
	}
}

// With -flood, bogus logins from one address go on while the route is
// driven; the users sign up and log in each from an address of their own.
func TestLoadToolFloods(t *testing.T) {
	var mu sync.Mutex
	addrs := map[string]map[string]bool{} // username prefix -> X-Forwarded-For seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var creds struct{ Username string }
		json.NewDecoder(r.Body).Decode(&creds)
		kind, _, _ := strings.Cut(creds.Username, "-")
		mu.Lock()
		if addrs[kind] == nil {
			addrs[kind] = map[string]bool{}
		}
		addrs[kind][r.Header.Get("X-Forwarded-For")] = true
		mu.Unlock()
		switch {
		case r.URL.Path == "/signup":
			w.WriteHeader(http.StatusCreated)
		case kind == "flood":
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()

	var out, progress bytes.Buffer
	err := run(t.Context(), []string{"-target", srv.URL, "-users", "3", "-route", "/login", "-rate", "20", "-duration", "1s", "-flood", "2", "-json"}, &out, &progress)
	if err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s", err, out.String())
	}
	if res.Statuses["200"] == 0 || res.FloodRequests == 0 || res.FloodStatuses["401"] != int(res.FloodRequests) {
		t.Errorf("result %+v: want the users' logins and the flood's 401s counted apart", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(addrs["flood"]) != 1 || !addrs["flood"][floodAddr(0, 1)] {
		t.Errorf("the flood came from %v, want %s only", addrs["flood"], floodAddr(0, 1))
	}
	for kind, seen := range addrs {
		if kind != "flood" && (len(seen) != 3 || seen[floodAddr(0, 1)] || seen[""]) {
			t.Errorf("the users (%s...) came from %v, want 3 addresses of their own", kind, seen)
		}
	}
}

// With -server-pid it reads a process's CPU time from /proc: here its own.
func TestCPUTicksOfThisProcess(t *testing.T) {
	before, err := cpuTicks(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := cpuTicks(os.Getpid())
	if err != nil || after <= before {
		t.Fatalf("100ms of busy loop used %d ticks (err %v), want some", after-before, err)
	}
}

func TestLoadToolRejectsUnknownRoutes(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-route", "/admin"}, &out, &out); err == nil {
		t.Fatal("an unknown -route was accepted")
	}
}
