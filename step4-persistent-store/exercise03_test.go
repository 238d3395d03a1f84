//go:build exercise

package main

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// Exercise 03 (EXERCISES.md): -max-sessions N caps how many sessions one
// user has at a time: a sign-in beyond the cap ends that user's oldest
// session, never the new one, never another user's.
func TestExercise03_SessionCap(t *testing.T) {
	ts := startServer(t, nil, "-max-sessions", "3")
	signUpUsers(t, ts) // alice's first session: the signup's
	bob := signInFrom(t, ts, "bob", "the-builder", "Bob/1.0")

	signIn := func(agent string) *client {
		nextMillisecond() // sign-in times are kept to the millisecond: make "oldest" well defined
		return signInFrom(t, ts, "alice", "wonderland", agent)
	}
	a, b, c := signIn("A/1.0"), signIn("B/1.0"), signIn("C/1.0")
	if got := agentsOf(t, c); !slices.Equal(got, []string{"A/1.0", "B/1.0", "C/1.0"}) {
		t.Fatalf("sent: signup of alice, then 3 sign-ins (A, B, C) to a server started with -max-sessions 3, then GET /sessions from C\ngot:  sessions from %q\nwant: A, B and C: the signup's session, the oldest, ended", got)
	}
	d := signIn("D/1.0")
	if got := a.whoami(); got != "" {
		t.Errorf("sent: a 4th sign-in of alice (D) with -max-sessions 3, then GET /me from A, her oldest session\ngot:  /me says %q\nwant: 401: the oldest session ends", got)
	}
	for name, cl := range map[string]*client{"B": b, "C": c, "D": d} {
		if got := cl.whoami(); got != "alice" {
			t.Errorf("sent: a 4th sign-in of alice (D) with -max-sessions 3, then GET /me from %s\ngot:  /me says %q\nwant: alice: only the oldest session ends", name, got)
		}
	}
	if got := agentsOf(t, d); !slices.Equal(got, []string{"B/1.0", "C/1.0", "D/1.0"}) {
		t.Errorf("sent: GET /sessions from D after the 4th sign-in\ngot:  sessions from %q\nwant: B, C and D", got)
	}
	if got := bob.whoami(); got != "bob" {
		t.Errorf("sent: 4 sign-ins of alice, then GET /me as bob\ngot:  /me says %q\nwant: bob: the cap counts each user's own sessions", got)
	}
}

// Without the flag there is no cap, as today.
func TestExercise03_NoCapByDefault(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	var all []*client
	for _, agent := range []string{"A", "B", "C", "D", "E"} {
		all = append(all, signInFrom(t, ts, "alice", "wonderland", agent))
	}
	for i, cl := range all {
		if got := cl.whoami(); got != "alice" {
			t.Errorf("sent: 5 sign-ins of alice to a server started without -max-sessions, then GET /me from sign-in %d\ngot:  /me says %q\nwant: alice: no cap unless asked for", i+1, got)
		}
	}
	// And the flag is really there: a server with it starts.
	startServer(t, nil, "-max-sessions", "3")
}

// agentsOf is the user agents of the sessions that c's /sessions lists, sorted.
func agentsOf(t *testing.T, c *client) []string {
	t.Helper()
	r := c.get("/sessions")
	wantStatus(t, r, http.StatusOK)
	list, _ := r.json(t)["sessions"].([]any)
	var agents []string
	for _, s := range list {
		agent, _ := s.(map[string]any)["user_agent"].(string)
		agents = append(agents, agent)
	}
	slices.Sort(agents)
	return agents
}

// nextMillisecond waits until the clock has moved to another millisecond, so
// that the next sign-in is strictly younger than the last one. It waits for
// the clock, not for the server: no timing is asserted.
func nextMillisecond() {
	for start := time.Now().UnixMilli(); time.Now().UnixMilli() == start; {
		time.Sleep(100 * time.Microsecond)
	}
}
