//go:build exercise

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// signupFrom signs up with X-Forwarded-For set to addr, as a reverse proxy
// would for a client at addr.
func (c *client) signupFrom(addr, user, password string) response {
	c.t.Helper()
	body, err := json.Marshal(map[string]string{"username": user, "password": password})
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do("POST", "/signup", bytes.NewReader(body), map[string]string{
		"Content-Type":    "application/json",
		"Accept":          "application/json",
		"X-Forwarded-For": addr,
	})
}

// Exercise 02 (EXERCISES.md): with -signups-per-hour 3, one client address
// creates at most 3 accounts an hour; the fourth signup gets 429 with
// Retry-After and creates nothing, while another address still signs up. A
// signup refused for a broken rule does not count.
func TestExercise02_SignupsArePerAddressLimited(t *testing.T) {
	args := []string{"-trust-proxy", "-signups-per-hour", "3"}
	if _, err := parseFlags(args, io.Discard); err != nil {
		t.Fatalf("sent: the flags %q\ngot:  %v\nwant: a -signups-per-hour flag", args, err)
	}
	ts := startServer(t, nil, args...)
	const here, elsewhere = "203.0.113.1", "203.0.113.2"
	const password = "correct horse battery staple"

	if r := newClient(t, ts).signupFrom(here, "typo", "short"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("sent: POST /signup with a 5-byte password, X-Forwarded-For: %s\ngot:  %d %s\nwant: 400 (the password rule)", here, r.StatusCode, strings.TrimSpace(r.Body))
	}
	for i := range 3 {
		user := fmt.Sprintf("user%d", i)
		if r := newClient(t, ts).signupFrom(here, user, password); r.StatusCode != http.StatusCreated {
			t.Fatalf("sent: POST /signup as %s, X-Forwarded-For: %s (signup %d of 3 allowed; a 400 before it does not count)\ngot:  %d %s\nwant: 201", user, here, i+1, r.StatusCode, strings.TrimSpace(r.Body))
		}
	}

	c := newClient(t, ts)
	r := c.signupFrom(here, "user3", password)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sent: POST /signup as user3, X-Forwarded-For: %s (the 4th signup from it)\ngot:  %d %s\nwant: 429 Too Many Requests", here, r.StatusCode, strings.TrimSpace(r.Body))
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 3600 {
		t.Errorf("sent: the 4th signup from %s\ngot:  429 with Retry-After %q\nwant: Retry-After of 1 to 3600 seconds", here, r.Header.Get("Retry-After"))
	}
	if msg, _ := r.json(t)["error"].(string); msg == "" {
		t.Errorf("sent: the 4th signup from %s\ngot:  429 with body %s\nwant: an {\"error\": ...} that says why", here, strings.TrimSpace(r.Body))
	}
	if setCookie(r) != nil || c.whoami() != "" {
		t.Errorf("sent: the 4th signup from %s\ngot:  429, but signed in\nwant: a refused signup signs nobody in", here)
	}
	if r := newClient(t, ts).loginFrom(elsewhere, "user3", password); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("sent: POST /login as user3 (whose signup got 429)\ngot:  %d %s\nwant: 401: a refused signup creates no account", r.StatusCode, strings.TrimSpace(r.Body))
	}

	if r := newClient(t, ts).signupFrom(elsewhere, "user4", password); r.StatusCode != http.StatusCreated {
		t.Errorf("sent: POST /signup as user4, X-Forwarded-For: %s (another address)\ngot:  %d %s\nwant: 201: the limit is per address", elsewhere, r.StatusCode, strings.TrimSpace(r.Body))
	}
}
