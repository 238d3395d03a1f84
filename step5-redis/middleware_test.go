package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A state-changing request that a browser sends from another site is 403
// (CSRF); the same from this site, or from curl (no such headers), works.
func TestCrossOriginRequestsAreRefused(t *testing.T) {
	ts := startServer(t, nil)
	signUpUsers(t, ts)
	login := `{"username":"alice","password":"wonderland"}`
	post := func(c *client, path, body string, header map[string]string) response {
		h := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}
		for k, v := range header {
			h[k] = v
		}
		return c.do("POST", path, strings.NewReader(body), h)
	}

	for name, header := range map[string]map[string]string{
		"Sec-Fetch-Site: cross-site":         {"Sec-Fetch-Site": "cross-site"},
		"Sec-Fetch-Site: same-site":          {"Sec-Fetch-Site": "same-site"},
		"a foreign Origin":                   {"Origin": "https://evil.example"},
		"a foreign Origin on the same host":  {"Origin": "http://127.0.0.1:1"},
		"cross-site, claiming a good Origin": {"Sec-Fetch-Site": "cross-site", "Origin": ts.URL},
	} {
		c := newClient(t, ts)
		r := post(c, "/login", login, header)
		wantStatus(t, r, http.StatusForbidden)
		if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, "cross-origin") {
			t.Errorf("%s: error %q does not say why", name, msg)
		}
		if setCookie(r) != nil || c.whoami() != "" {
			t.Errorf("%s: a refused login signed in", name)
		}
		wantStatus(t, post(c, "/signup", `{"username":"mallory","password":"mallory-password"}`, header), http.StatusForbidden)
	}
	wantStatus(t, newClient(t, ts).login("mallory", "mallory-password"), http.StatusUnauthorized)

	for name, header := range map[string]map[string]string{
		"no headers (curl)":           nil,
		"Sec-Fetch-Site: same-origin": {"Sec-Fetch-Site": "same-origin"},
		"Sec-Fetch-Site: none":        {"Sec-Fetch-Site": "none"}, // typed in the address bar
		"our own Origin":              {"Origin": ts.URL},
	} {
		c := newClient(t, ts)
		wantStatus(t, post(c, "/login", login, header), http.StatusOK)
		if c.whoami() != "alice" {
			t.Errorf("%s: login did not sign in", name)
		}
	}

	// A page elsewhere cannot sign a victim out either, but can link here.
	victim := newClient(t, ts)
	victim.login("alice", "wonderland")
	wantStatus(t, post(victim, "/logout", "", map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusForbidden)
	if victim.whoami() != "alice" {
		t.Error("a cross-site logout signed the victim out")
	}
	wantStatus(t, victim.do("GET", "/", nil, map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusOK)

	// A browser's cross-site form gets an error page.
	r := victim.do("POST", "/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {"wonderland"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
	wantStatus(t, r, http.StatusForbidden)
	if !strings.Contains(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.Body, "cross-origin") {
		t.Errorf("a cross-site form did not get an HTML error page: %s\n%s", r.Header.Get("Content-Type"), r.Body)
	}
}
