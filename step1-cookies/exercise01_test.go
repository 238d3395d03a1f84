//go:build exercise

package main

import (
	"net/http"
	"net/url"
	"testing"
)

// Exercise 01 (EXERCISES.md): /visits keeps a second count in the sealed
// session cookie, next to the plain one, so that the page shows what a
// forged cookie can and cannot change.
func TestExercise01_SealedVisitsCannotBeForged(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts)
	c.get("/visits")
	c.get("/visits")
	u, _ := url.Parse(ts.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "visits", Value: "1000", Path: "/"}})
	r := c.get("/visits")
	got := r.json(t)
	if got["visits"] != 1001.0 || got["sealed_visits"] != 3.0 {
		t.Fatalf("sent: GET /visits twice, then a visits=1000 cookie and GET /visits\ngot:  %s\nwant: {\"visits\":1001,\"sealed_visits\":3}: the plain count believes the forgery, the sealed one cannot be edited", r.Body)
	}
}
