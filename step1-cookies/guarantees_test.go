package main

// Guarantees that a careless change could break with every other test still
// passing (issue 22, "Tests that catch what they claim"). Each test says the
// change it was seen to fail on. The same file is in every step it applies
// to; only the last few helpers, and the tests of routes a step does not
// have, differ.

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The request log names the path, never the query string: a token or a
// password put in a URL by a careless link must not end up in the logs.
//
// Fails when logRequests logs r.URL.String() (or r.RequestURI) instead of
// r.URL.Path.
func TestRequestLogLeavesOutTheQuery(t *testing.T) {
	const secret = "SECRET123"
	ts := startServerCapturingOutput(t, nil)
	signedIn := guaranteesSignIn(t, ts)
	anonymous := newClient(t, ts)
	paths := []string{"/me", "/no-such-page"}
	for _, path := range paths {
		signedIn.get(path + "?token=" + secret)
		anonymous.get(path + "?token=" + secret + "&next=%2Fme")
	}
	anonymous.do("GET", "/?password="+secret, nil, nil)
	anonymous.postJSON("/login?token="+secret, map[string]string{"username": "nobody", "password": "no-password"})

	output := ts.logs.String()
	for _, line := range strings.Split(output, "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("the server's output holds the query string's %s: %s", secret, line)
		}
	}
	// The requests were logged (a server that logs nothing would pass
	// the check above): one line each, naming the path.
	for _, path := range paths {
		if n := strings.Count(output, path); n < 2 {
			t.Errorf("%d log lines name %s, want one per request (2):\n%s", n, path, output)
		}
	}
}

// Every response, whatever it is (a page, a JSON answer, an error), forbids
// being framed (clickjacking) and content sniffing, and limits the Referer.
//
// Fails when X-Frame-Options, or frame-ancestors in the Content-Security-
// Policy, or X-Content-Type-Options, or Referrer-Policy, is removed.
func TestEveryResponseForbidsFraming(t *testing.T) {
	ts := startServer(t, nil)
	signedIn := guaranteesSignIn(t, ts)
	anonymous := newClient(t, ts)
	html := map[string]string{"Accept": "text/html"}
	for _, tc := range []struct {
		what string
		r    response
		want int // 0: any status
	}{
		{"the home page, signed in", signedIn.do("GET", "/", nil, html), http.StatusOK},
		{"/me as JSON", signedIn.get("/me"), http.StatusOK},
		{"the home page", anonymous.do("GET", "/", nil, html), http.StatusOK},
		{"HEAD of the home page", anonymous.do("HEAD", "/", nil, html), http.StatusOK},
		{"/visits", anonymous.do("GET", "/visits", nil, html), http.StatusOK},
		{"/me when signed out", anonymous.get("/me"), http.StatusUnauthorized},
		{"/healthz", anonymous.get("/healthz"), http.StatusOK},
		{"a failed login", anonymous.postJSON("/login", map[string]string{"username": "nobody", "password": "no-password"}), http.StatusUnauthorized},
		{"a malformed login", anonymous.do("POST", "/login", strings.NewReader("{"), map[string]string{"Content-Type": "application/json"}), http.StatusBadRequest},
		{"a body over 64 KiB", anonymous.do("POST", "/login", strings.NewReader("username="+strings.Repeat("a", 65<<10)), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), http.StatusRequestEntityTooLarge},
		{"a 404 in JSON", anonymous.get("/no-such-page"), http.StatusNotFound},
		{"a 404 page", anonymous.do("GET", "/no-such-page", nil, html), http.StatusNotFound},
		{"a 405", anonymous.get("/logout"), http.StatusMethodNotAllowed},
		{"a cross-site POST", anonymous.do("POST", "/logout", nil, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}), 0},
		{"a logout", signedIn.do("POST", "/logout", nil, jsonHeaders), http.StatusOK},
	} {
		if tc.want != 0 && tc.r.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.what, tc.r.StatusCode, tc.want)
		}
		wantNoFraming(t, tc.what, tc.r.Header)
	}
}

// wantNoFraming reports the protective headers that h lacks.
func wantNoFraming(t testing.TB, what string, h http.Header) {
	t.Helper()
	if got := h.Get("X-Frame-Options"); !strings.EqualFold(got, "DENY") {
		t.Errorf("%s: X-Frame-Options = %q, want DENY", what, got)
	}
	frameAncestorsNone := false
	for _, policy := range h.Values("Content-Security-Policy") {
		for _, directive := range strings.Split(policy, ";") {
			f := strings.Fields(directive)
			if len(f) == 2 && strings.EqualFold(f[0], "frame-ancestors") && f[1] == "'none'" {
				frameAncestorsNone = true
			}
		}
	}
	if !frameAncestorsNone {
		t.Errorf("%s: Content-Security-Policy = %q, want frame-ancestors 'none'", what, h.Values("Content-Security-Policy"))
	}
	if got := h.Get("X-Content-Type-Options"); !strings.EqualFold(got, "nosniff") {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", what, got)
	}
	// Any policy that never sends a page's path and query to another site.
	switch got := h.Get("Referrer-Policy"); strings.ToLower(got) {
	case "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin", "origin", "origin-when-cross-origin":
	default:
		t.Errorf("%s: Referrer-Policy = %q, want one that keeps URLs on this site (same-origin, no-referrer, ...)", what, got)
	}
}

// startServerCapturingOutput is startServer, with everything run writes to
// stdout and to stderr in the testServer's logs.
func startServerCapturingOutput(t testing.TB, env map[string]string, args ...string) *testServer {
	t.Helper()
	out := &outputWatcher{listening: make(chan string, 1)}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args = append(guaranteesServerArgs(t), args...)
	go func() { done <- run(ctx, args, getenv, out, out) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	select {
	case addr := <-out.listening:
		return &testServer{URL: "http://" + addr, logs: &out.buf, stop: stop}
	case err := <-done:
		done <- err
		t.Fatalf("server stopped before listening: %v\noutput:\n%s", err, out.buf.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not listen within 10s; output:\n%s", out.buf.String())
	}
	return nil
}

// outputWatcher keeps what the server writes and says once where it
// listens.
type outputWatcher struct {
	buf       syncBuffer
	once      sync.Once
	listening chan string
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (w *outputWatcher) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if m := listeningRE.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() { w.listening <- m[1] })
	}
	return n, err
}

// Below: what differs from step to step.

// guaranteesServerArgs are the arguments startServer adds in this step.
func guaranteesServerArgs(t testing.TB) []string {
	return []string{"-addr", "127.0.0.1:0"}
}

// guaranteesSignIn is a new visitor signed in as alice, one of the step's
// demo users (step 1 has no session ids: only the headers and the log
// apply).
func guaranteesSignIn(t testing.TB, ts *testServer) *client {
	t.Helper()
	c := newClient(t, ts)
	wantStatus(t, c.login("alice", "wonderland"), http.StatusOK)
	return c
}
