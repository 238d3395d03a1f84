//go:build exercise

package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Exercise 02 (EXERCISES.md): failed logins are counted in Redis, so that
// every instance sees the failures of the others: 3 on instance A and 2 on
// instance B, for one username from one address, make the next attempt 429
// on both, even with the right password. Another address, or another
// username, is not affected. While Redis is down no password is checked.
func TestExercise02_FailedLoginsAreCountedAcrossInstances(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	a := startServer(t, env, "-db", db, "-trust-proxy")
	b := startServer(t, env, "-db", db, "-trust-proxy")
	signUpUsers(t, a)
	const here, elsewhere = "203.0.113.1", "203.0.113.2"
	const onA = 3
	instances := map[*testServer]string{a: "A", b: "B"}

	sent := []string{}
	for i := range maxFailures {
		ts := a
		if i >= onA {
			ts = b
		}
		password := "guess" + strconv.Itoa(i)
		r := newClient(t, ts).loginFrom(here, "alice", password)
		sent = append(sent, fmt.Sprintf("%s on %s", password, instances[ts]))
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("sent: POST /login as alice with the wrong password %q on instance %s, X-Forwarded-For: %s (failure %d of %d allowed)\ngot:  %d %s\nwant: 401", password, instances[ts], here, i+1, maxFailures, r.StatusCode, strings.TrimSpace(r.Body))
		}
	}
	tried := strings.Join(sent, ", ")

	for _, ts := range []*testServer{b, a} {
		c := newClient(t, ts)
		r := c.loginFrom(here, "alice", "wonderland")
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("sent: %d failed logins as alice from %s (%s), then the right password on instance %s\ngot:  %d %s\nwant: 429 Too Many Requests: the %d failures count on every instance", maxFailures, here, tried, instances[ts], r.StatusCode, strings.TrimSpace(r.Body), maxFailures)
		}
		if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > int(failureWindow.Seconds()) {
			t.Errorf("sent: the right password as alice from %s on instance %s, after %d failures\ngot:  429 with Retry-After %q\nwant: Retry-After of 1 to %d seconds", here, instances[ts], maxFailures, r.Header.Get("Retry-After"), int(failureWindow.Seconds()))
		}
		if msg, _ := r.json(t)["error"].(string); msg == "" {
			t.Errorf("sent: the right password as alice from %s on instance %s, after %d failures\ngot:  429 with body %s\nwant: an {\"error\": ...} that says why", here, instances[ts], maxFailures, strings.TrimSpace(r.Body))
		}
		if got := c.whoami(); got != "" {
			t.Errorf("sent: the right password as alice from %s on instance %s, after %d failures\ngot:  429, but /me = %q\nwant: a throttled login signs nobody in", here, instances[ts], maxFailures, got)
		}
	}

	if r := newClient(t, b).loginFrom(elsewhere, "alice", "wonderland"); r.StatusCode != http.StatusOK {
		t.Errorf("sent: POST /login as alice with the right password on B, X-Forwarded-For: %s (another address)\ngot:  %d %s\nwant: 200: the count is per username and address, so the real alice is not locked out from elsewhere", elsewhere, r.StatusCode, strings.TrimSpace(r.Body))
	}
	if r := newClient(t, a).loginFrom(here, "bob", "the-builder"); r.StatusCode != http.StatusOK {
		t.Errorf("sent: POST /login as bob with the right password on A, X-Forwarded-For: %s (alice's failures came from there)\ngot:  %d %s\nwant: 200: the count is per username and address", here, r.StatusCode, strings.TrimSpace(r.Body))
	}

	// Fail closed: without Redis, no instance can know the others' count.
	redisOf(t, db).stop()
	if r := newClient(t, a).loginFrom(elsewhere, "bob", "a-wrong-guess"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("sent: POST /login as bob with a wrong password on A, with Redis stopped\ngot:  %d %s\nwant: 503: the failures cannot be counted, so no password is checked (and a 401 for a wrong password next to a 503 for the right one would tell a guesser which was right)", r.StatusCode, strings.TrimSpace(r.Body))
	}
}
