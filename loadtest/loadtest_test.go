package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
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
