//go:build exercise

package main

import "testing"

// Exercise 01 (EXERCISES.md): /me also says how many times this visitor has
// seen /visits, counted in the same server-side session.
func TestExercise01_MeShowsVisits(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts)
	c.get("/visits")
	c.get("/visits")
	wantStatus(t, c.login("alice", "wonderland"), 200)
	r := c.get("/me")
	wantStatus(t, r, 200)
	if got := r.json(t)["visits"]; got != 2.0 {
		t.Fatalf("sent: GET /visits twice, POST /login as alice, GET /me\ngot:  %s\nwant: the same fields plus \"visits\": 2", r.Body)
	}
}
