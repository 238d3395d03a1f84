package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Each rule of the contract, on both sides of its limit. Passwords count in
// bytes, as bcrypt does: "é" is 2 bytes, "😀" 4.
func TestSignupRules(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name, username, password string
		wantInError              string // "" for a valid signup
	}{
		{"3-character username", "abc", "password", ""},
		{"32-character username", strings.Repeat("u", 32), "password", ""},
		{"every allowed character", "a.b_c-9", "password", ""},
		{"2-character username", "ab", "password", "username must be 3 to 32"},
		{"33-character username", strings.Repeat("v", 33), "password", "username must be 3 to 32"},
		{"empty username", "", "password", "username must be 3 to 32"},
		{"a space", "al ice", "password", "each a-z, 0-9"},
		{"an @", "alice@example", "password", "each a-z, 0-9"},
		{"a slash", "alice/bob", "password", "each a-z, 0-9"},
		{"a non-ASCII letter", "ålice", "password", "each a-z, 0-9"},
		{"a Kelvin sign, which ToLower would fold to k", "\u212aate", "password", "each a-z, 0-9"},
		{"7-byte password", "seven", "1234567", "password must be 8 to 72 bytes"},
		{"8-byte password", "eight", "12345678", ""},
		{"72-byte password", "seventytwo", strings.Repeat("p", 72), ""},
		{"73-byte password", "seventythree", strings.Repeat("p", 73), "password must be 8 to 72 bytes"},
		{"2 characters, 8 bytes", "emoji8", "😀😀", ""},
		{"4 characters, 7 bytes", "accents7", "ééé1", "password must be 8 to 72 bytes"},
		{"36 characters, 72 bytes", "accents72", strings.Repeat("é", 36), ""},
		{"37 characters, 73 bytes", "accents73", strings.Repeat("é", 36) + "1", "password must be 8 to 72 bytes"},
		{"18 characters, 72 bytes", "emoji72", strings.Repeat("😀", 18), ""},
		{"19 characters, 73 bytes", "emoji73", strings.Repeat("😀", 18) + "1", "password must be 8 to 72 bytes"},
		{"empty password", "nopassword", "", "password must be 8 to 72 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, ts)
			r := c.signup(tc.username, tc.password)
			if tc.wantInError != "" {
				wantStatus(t, r, http.StatusBadRequest)
				if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, tc.wantInError) {
					t.Errorf("error %q does not say %q", msg, tc.wantInError)
				}
				if setCookie(r) != nil || c.whoami() != "" {
					t.Error("a refused signup signed in")
				}
				wantStatus(t, c.login(tc.username, tc.password), http.StatusUnauthorized)
				return
			}
			wantStatus(t, r, http.StatusCreated)
			if got := r.json(t)["user"]; got != tc.username {
				t.Errorf("signup answered user %v, want %q", got, tc.username)
			}
			if got := c.whoami(); got != tc.username {
				t.Errorf("after signup /me = %q, want %q", got, tc.username)
			}
			wantStatus(t, newClient(t, ts).login(tc.username, tc.password), http.StatusOK)
		})
	}

	t.Run("both fields wrong: both rules named", func(t *testing.T) {
		r := newClient(t, ts).signup("a!", "short")
		wantStatus(t, r, http.StatusBadRequest)
		msg, _ := r.json(t)["error"].(string)
		if !strings.Contains(msg, "username") || !strings.Contains(msg, "password") {
			t.Errorf("error %q does not name both rules", msg)
		}
	})
}

// A password is never cut at 72 bytes: with a 72-byte password, the same 72
// bytes plus one more must not sign in (bcrypt alone would let them).
func TestPasswordsAreNeverTruncated(t *testing.T) {
	ts := startServer(t, nil)
	password := strings.Repeat("é", 35) + "xy" // 72 bytes
	wantStatus(t, newClient(t, ts).signup("carol", password), http.StatusCreated)
	for _, extra := range []string{"z", "é", "😀"} {
		wantStatus(t, newClient(t, ts).login("carol", password+extra), http.StatusUnauthorized)
	}
	wantStatus(t, newClient(t, ts).login("carol", password), http.StatusOK)
}

// "Alice" and "alice" are one user: the second signup is 409, and any
// spelling signs in as the folded name.
func TestSignupCaseFolding(t *testing.T) {
	ts := startServer(t, nil)
	first := newClient(t, ts)
	r := first.signup("Alice", "wonderland")
	wantStatus(t, r, http.StatusCreated)
	if got := r.json(t)["user"]; got != "alice" {
		t.Errorf("signup as Alice answered user %v, want alice", got)
	}
	for _, name := range []string{"alice", "ALICE", "aLiCe"} {
		c := newClient(t, ts)
		r := c.signup(name, "another-password")
		wantStatus(t, r, http.StatusConflict)
		if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, "taken") {
			t.Errorf("signup as %s: error %q does not say the name is taken", name, msg)
		}
		if setCookie(r) != nil || c.whoami() != "" {
			t.Errorf("signup as %s: a refused signup signed in", name)
		}
	}
	c := newClient(t, ts)
	wantStatus(t, c.login("ALICE", "wonderland"), http.StatusOK)
	if got := c.whoami(); got != "alice" {
		t.Errorf("after login as ALICE /me = %q, want alice", got)
	}
	wantStatus(t, newClient(t, ts).login("alice", "another-password"), http.StatusUnauthorized)
}

// Signup signs in with a new id, as login does: an id planted before is
// worth nothing after it.
func TestSignupIssuesNewID(t *testing.T) {
	ts := startServer(t, nil)
	victim := newClient(t, ts)
	wantStatus(t, victim.get("/visits"), http.StatusOK)
	planted := victim.sessionCookie()
	r := victim.signup("dave", "dave-password")
	wantStatus(t, r, http.StatusCreated)
	ck := setCookie(r)
	if ck == nil || ck.Value == planted || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("signup did not issue a new HttpOnly, SameSite=Lax session cookie: %q", r.Header.Get("Set-Cookie"))
	}
	if got := victim.whoami(); got != "dave" {
		t.Errorf("after signup /me = %q, want dave", got)
	}
	attacker := newClient(t, ts)
	attacker.setSessionCookie(planted)
	if got := attacker.whoami(); got != "" {
		t.Fatalf("the pre-signup id signs its holder in as %q", got)
	}
}

// The browser's side: a Sign up button in the login form on the home
// page, the broken rules named on an error page (Back returns to the form),
// and a 303 home on success.
func TestSignupPage(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts)
	html := map[string]string{"Accept": "text/html"}
	home := c.do("GET", "/", nil, html)
	wantStatus(t, home, http.StatusOK)
	for _, want := range []string{`action="/login"`, `formaction="/signup"`} {
		if !strings.Contains(home.Body, want) {
			t.Errorf("the home page lacks %s:\n%s", want, home.Body)
		}
	}

	form := func(user, password string) response {
		return c.postForm("/signup", url.Values{"username": {user}, "password": {password}})
	}
	bad := form("Bad Name", "short")
	wantStatus(t, bad, http.StatusBadRequest)
	for _, want := range []string{"username must be 3 to 32", "password must be 8 to 72 bytes"} {
		if !strings.Contains(bad.Body, want) {
			t.Errorf("the refused signup page lacks %s:\n%s", want, bad.Body)
		}
	}
	if strings.Contains(bad.Body, "short") {
		t.Error("the refused signup page shows the password again")
	}

	ok := form("Erin", "erin-password")
	wantStatus(t, ok, http.StatusSeeOther)
	if loc := ok.Header.Get("Location"); loc != "/" {
		t.Errorf("Location = %q, want /", loc)
	}
	if home := c.do("GET", "/", nil, html); !strings.Contains(home.Body, "Signed in as erin") {
		t.Errorf("after signup the home page does not say who is signed in:\n%s", home.Body)
	}

	taken := newClient(t, ts).postForm("/signup", url.Values{"username": {"erin"}, "password": {"other-password"}})
	wantStatus(t, taken, http.StatusConflict)
	if !strings.Contains(taken.Body, "username is taken") {
		t.Errorf("the taken-name page does not say so:\n%s", taken.Body)
	}
}

// A JSON password is read byte for byte or not at all. Go's decoder alone
// turns bytes that are not UTF-8, and lone surrogate escapes, into U+FFFD,
// so that p\xe4ssword, p\xf6ssword, p\ud800ssword and p\ufffdssword were
// one password (issue 12): now every string that decodes to U+FFFD is
// refused, U+FFFD itself included, at signup as at login.
func TestPasswordBytesAreNotReplaced(t *testing.T) {
	ts := startServer(t, nil)
	post := func(path, password string) response {
		t.Helper()
		body := `{"username":"alice","password":"` + password + `"}` // raw bytes: json.Marshal would replace them
		return newClient(t, ts).do("POST", path, strings.NewReader(body), map[string]string{"Content-Type": "application/json", "Accept": "application/json"})
	}
	for _, password := range []string{"p\xe4ssword-123", "p\xf6ssword-123", "p\ufffdssword-123", `p\ud800ssword-123`, `p\udfffssword-123`, `p\ufffdssword-123`} {
		wantStatus(t, post("/signup", password), http.StatusBadRequest)
		wantStatus(t, post("/login", password), http.StatusBadRequest)
	}
}
