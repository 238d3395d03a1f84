package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// sessionCookie is the name of every step's session cookie (and step 1's
// login cookie): Secure, so it takes the __Host- prefix.
const sessionCookie = "__Host-session"

// httpClient follows no redirects, so that each answer is seen as it is, and
// keeps no cookies: visitors keep their own, in plain sight.
var httpClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// visitor is one client of a server, like curl with a cookie file: it sends
// the cookies it holds and keeps the ones the server sets. An attacker can
// read and write them all, and point the same cookies at another server.
type visitor struct {
	c       *cell
	srv     *server
	cookies map[string]string
}

func (c *cell) visitor(srv *server) *visitor {
	return &visitor{c: c, srv: srv, cookies: map[string]string{}}
}

// reply is what the server answered.
type reply struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

// field returns a string field of a JSON answer ("" when there is none).
func (r reply) field(name string) string {
	var m map[string]any
	json.Unmarshal([]byte(r.body), &m)
	s, _ := m[name].(string)
	return s
}

// get sends GET path as an API client (Accept: application/json).
func (v *visitor) get(path string) reply {
	return v.send(http.MethodGet, path, nil)
}

// post sends fields as a JSON object to path; nil fields, no body at all.
func (v *visitor) post(path string, fields map[string]string) reply {
	if fields == nil {
		return v.send(http.MethodPost, path, nil)
	}
	body, _ := json.Marshal(fields)
	return v.send(http.MethodPost, path, body)
}

func (v *visitor) send(method, path string, body []byte) reply {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(v.c.lab.ctx, method, v.srv.URL+path, r)
	if err != nil {
		v.c.fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, value := range v.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		v.c.fatalf("step %d: %s %s: %v", v.srv.step, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.c.fatalf("step %d: %s %s: read the answer: %v", v.srv.step, method, path, err)
	}
	took := time.Since(start)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(v.cookies, ck.Name)
		} else {
			v.cookies[ck.Name] = ck.Value
		}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: strings.TrimSpace(string(b)), took: took}
}

// copyCookieTo gives another visitor (a thief) this visitor's session
// cookie.
func (v *visitor) copyCookieTo(thief *visitor) {
	thief.cookies[sessionCookie] = v.cookies[sessionCookie]
}

// me asks who is signed in: the user's name, or "" with the status.
func (v *visitor) me() (user string, status int) {
	r := v.get("/me")
	return r.field("user"), r.status
}
