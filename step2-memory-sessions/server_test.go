package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests start the real server through run, on a free port, and talk to
// it over HTTP with a real cookie jar, as a reader's curl or browser would.

// testServer is one running server.
type testServer struct {
	URL  string
	logs *syncBuffer
	stop func() error // cancels run's context and returns what run returned
}

// testSecret is a fixed SESSION_SECRET, so that a restarted server (or a test
// that signs its own cookie) shares the key.
var testSecret = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// sessionCookieName is the session cookie's name with Secure cookies, the
// default: the contract's, spelled out rather than derived from the code.
const sessionCookieName = "__Host-session"

// startServer runs the server with args (plus -addr 127.0.0.1:0) and env, and
// waits until it listens.
func startServer(t testing.TB, env map[string]string, args ...string) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), getenv, io.Discard, logs)
	}()
	addrRE := regexp.MustCompile(`msg=listening addr=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			var once sync.Once
			var runErr error
			ts := &testServer{URL: "http://" + m[1], logs: logs}
			ts.stop = func() error {
				once.Do(func() { cancel(); runErr = <-done })
				return runErr
			}
			t.Cleanup(func() { ts.stop() })
			return ts
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("server stopped before listening: %v\nlogs:\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not listen within 10s; logs:\n%s", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer that the server and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// client is one visitor: a cookie jar, and redirects shown rather than followed.
type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func newClient(t testing.TB, ts *testServer) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: ts.URL, http: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a response with its body read.
type response struct {
	*http.Response
	Body string
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v\n%s", r.Request.Method, r.Request.URL.Path, err, r.Body)
	}
	return m
}

// do sends a request; header holds extra headers ("Content-Type", "Accept", ...).
func (c *client) do(method, path string, body io.Reader, header map[string]string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{Response: resp, Body: string(b)}
}

var jsonHeaders = map[string]string{"Accept": "application/json"}

func (c *client) get(path string) response {
	c.t.Helper()
	return c.do("GET", path, nil, jsonHeaders)
}

func (c *client) postJSON(path string, v any) response {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do("POST", path, bytes.NewReader(b), map[string]string{"Content-Type": "application/json", "Accept": "application/json"})
}

func (c *client) postForm(path string, form url.Values) response {
	c.t.Helper()
	return c.do("POST", path, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func (c *client) login(user, password string) response {
	c.t.Helper()
	return c.postJSON("/login", map[string]string{"username": user, "password": password})
}

// sessionCookie is the session cookie the jar holds for the server, or "".
func (c *client) sessionCookie() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == sessionCookieName {
			return ck.Value
		}
	}
	return ""
}

// setSessionCookie replaces the jar's session cookie, as an attacker with a
// copied or forged cookie would.
func (c *client) setSessionCookie(value string) {
	u, _ := url.Parse(c.base)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookieName, Value: value, Path: "/"}})
}

// whoami is the user /me names, or "" after a 401.
func (c *client) whoami() string {
	c.t.Helper()
	r := c.get("/me")
	switch r.StatusCode {
	case http.StatusOK:
		user, _ := r.json(c.t)["user"].(string)
		return user
	case http.StatusUnauthorized:
		return ""
	default:
		c.t.Fatalf("GET /me: status %d, want 200 or 401\n%s", r.StatusCode, r.Body)
		return ""
	}
}

func wantStatus(t testing.TB, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\nbody: %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.Body)
	}
}

// setCookie is the response's Set-Cookie for the session cookie, or nil.
func setCookie(r response) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == sessionCookieName || c.Name == cookieName {
			return c
		}
	}
	return nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}
