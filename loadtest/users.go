package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// user is one signed-in user: its credentials, its session cookie, and the
// address it comes from.
type user struct {
	Name, Password string
	Cookie         string // "session=..." as the Cookie header sends it
	Addr           string // its X-Forwarded-For
}

// userAddr is user i's address, in 198.18.0.0/15 (RFC 2544: benchmarks).
func userAddr(i int) string {
	return fmt.Sprintf("198.%d.%d.%d", 18+i>>16&1, i>>8&255, i&255)
}

// demoUsers are steps 1 and 2's built-in users; those steps have no /signup.
var demoUsers = []user{{Name: "alice", Password: "wonderland"}, {Name: "bob", Password: "the-builder"}}

// prepareUsers signs up o.users users (or signs in, when the name is taken);
// on a step without /signup it signs in the demo users in turn.
func prepareUsers(ctx context.Context, o options) ([]user, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	run := time.Now().UnixNano() % 1_000_000
	users := make([]user, 0, o.users)
	for i := range o.users {
		u := user{Name: fmt.Sprintf("load%d-%d", run, i), Password: o.password, Addr: userAddr(i)}
		status, cookie, err := postPatiently(ctx, client, o.target+"/signup", u)
		if err != nil {
			return nil, err
		}
		switch status {
		case http.StatusCreated:
		case http.StatusTooManyRequests:
			return nil, fmt.Errorf("sign up %s: 429: the server limits sign-ups per address; start it with -trust-proxy, so that each user's X-Forwarded-For counts", u.Name)
		case http.StatusNotFound: // steps 1 and 2
			u = demoUsers[i%len(demoUsers)]
			status, cookie, err = postPatiently(ctx, client, o.target+"/login", u)
			if err != nil {
				return nil, err
			}
			if status != http.StatusOK {
				return nil, fmt.Errorf("sign in %s: status %d", u.Name, status)
			}
		default:
			return nil, fmt.Errorf("sign up %s: status %d", u.Name, status)
		}
		u.Cookie = cookie
		users = append(users, u)
	}
	return users, nil
}

// postPatiently is post, tried again while the server answers 503: a server
// whose hashing is busy (a login flood runs) says so, with Retry-After, and
// a real client waits and tries again, up to a minute.
func postPatiently(ctx context.Context, client *http.Client, url string, u user) (int, string, error) {
	for range 60 {
		status, cookie, err := post(ctx, client, url, u)
		if err != nil || status != http.StatusServiceUnavailable {
			return status, cookie, err
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return http.StatusServiceUnavailable, "", nil
}

// post sends the user's credentials as JSON and returns the status and the
// session cookie it set.
func post(ctx context.Context, client *http.Client, url string, u user) (int, string, error) {
	body, _ := json.Marshal(map[string]string{"username": u.Name, "password": u.Password})
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if u.Addr != "" {
		req.Header.Set("X-Forwarded-For", u.Addr)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-session" || c.Name == "session" { // Secure or not
			return resp.StatusCode, c.Name + "=" + c.Value, nil
		}
	}
	return resp.StatusCode, "", nil
}
