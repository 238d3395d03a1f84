//go:build exercise

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Exercise 01 (EXERCISES.md): signup refuses the most common passwords,
// the first ones any guesser tries, with 400 and a message that says why.
// Other passwords of a valid length still sign up.
func TestExercise01_CommonPasswordsAreRefused(t *testing.T) {
	ts := startServer(t, nil)
	for i, password := range []string{"password1", "123456789", "qwertyuiop", "iloveyou1", "11111111"} {
		c := newClient(t, ts)
		username := fmt.Sprintf("common%d", i)
		r := c.signup(username, password)
		msg := ""
		if r.StatusCode == http.StatusBadRequest {
			msg, _ = r.json(t)["error"].(string)
		}
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "too common") {
			t.Errorf("sent: POST /signup {\"username\":%q,\"password\":%q}\ngot:  %d %s\nwant: 400 with an error that says the password is too common", username, password, r.StatusCode, strings.TrimSpace(r.Body))
			continue
		}
		if setCookie(r) != nil || c.whoami() != "" {
			t.Errorf("sent: POST /signup with the common password %q\ngot:  400, but signed in\nwant: a refused signup signs nobody in", password)
		}
	}

	// The home page's Sign up button (a form, posted to /signup) gets the
	// same refusal, on the error page.
	form := newClient(t, ts).postForm("/signup", url.Values{"username": {"formuser"}, "password": {"password1"}})
	if form.StatusCode != http.StatusBadRequest || !strings.Contains(form.Body, "too common") {
		t.Errorf("sent: POST /signup username=formuser&password=password1 (a form)\ngot:  %d\nwant: 400, a page that says the password is too common", form.StatusCode)
	}

	c := newClient(t, ts)
	r := c.signup("uncommon", "correct horse battery staple")
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("sent: POST /signup {\"username\":\"uncommon\",\"password\":\"correct horse battery staple\"}\ngot:  %d %s\nwant: 201: a password that is not on the list still signs up", r.StatusCode, strings.TrimSpace(r.Body))
	}
}
