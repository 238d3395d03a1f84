package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// attack is one row of the matrix: something a real attacker does, tried
// on each step it applies to.
type attack struct {
	name  string // what -attack takes
	title string // the row's label in the README
	steps []int  // the steps it applies to (nil: all five); n/a on the others
	na    string // why it does not apply to the others
	// works lists the steps on which it is expected to work, as the chapters'
	// "What is still wrong" sections and the contract say; it is expected to
	// be stopped on the other steps it applies to.
	works []int
	run   func(c *cell) verdict
}

// verdict is what an attack found on one step, with one line of evidence.
type verdict struct {
	works    bool
	evidence string
}

func works(format string, args ...any) verdict {
	return verdict{true, fmt.Sprintf(format, args...)}
}

func stopped(format string, args ...any) verdict {
	return verdict{false, fmt.Sprintf(format, args...)}
}

// attacks is every row, in the order of the story.
var attacks = []*attack{
	{name: "visits-cookie", title: "edit the plain visits cookie", works: []int{1}, run: editVisitsCookie},
	{name: "forge-cookie", title: "tamper with or forge the signed session cookie", run: forgeSessionCookie},
	{name: "replay-after-logout", title: "replay a cookie copied before logout", works: []int{1}, run: replayAfterLogout},
	{name: "session-fixation", title: "plant a session id before the victim's login", run: sessionFixation},
	{name: "read-cookie-js", title: "read the session cookie from page JavaScript, in the browser", run: readCookieFromJS},
	{name: "same-site-logout", title: "a form on another origin of the same site posts /logout, in the browser", works: []int{1, 2}, run: sameSiteLogout},
	{name: "cross-site-logout", title: "a form on another site posts /logout, in the browser", works: []int{1, 2}, run: crossSiteLogout},
	{name: "login-csrf", title: "a form on another site signs the victim in as the attacker, in the browser", works: []int{1, 2}, run: loginCSRF},
	{name: "password-guessing", title: "guess one account's password at full speed", works: []int{1, 2}, run: passwordGuessing},
	{name: "user-enumeration", title: "tell existing usernames by status, body or time", run: userEnumeration},
	{name: "login-flood", title: "failed logins for many usernames from one address", works: []int{1, 2}, run: loginFlood},
	{name: "anonymous-flood", title: "a flood of cookieless visits fills the session store", steps: []int{2, 3, 4, 5}, na: "the server keeps nothing for a visitor", run: anonymousFlood},
	{name: "stolen-data", title: "take the data file or Redis, try its contents as cookies", steps: []int{4, 5}, na: "no data file, and no Redis: sessions live in memory or in the cookie", run: stolenData},
	{name: "restart", title: "a restart signs everybody out", works: []int{2, 3}, run: restartSignsOut},
	{name: "second-instance", title: "a second instance does not know the session", works: []int{2, 3, 4}, run: secondInstance},
	{name: "password-change", title: "a thief's session survives the victim's password change", steps: []int{4, 5}, na: "no /password before step 4", run: passwordChangeThief},
}

// editVisitsCookie: step 1 counts visits in a plain cookie. Anyone (a
// script, a curious user in the developer tools) writes any number into it
// and the server believes it. For a count that is harmless; for a price, a
// role or a user name it would not be.
func editVisitsCookie(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	v := c.visitor(srv)
	visits(c, v.get("/visits"))
	v.cookies["visits"] = "1000000"
	n := visits(c, v.get("/visits"))
	if n == 1000001 {
		return works("with the visits cookie set to 1000000, /visits counted %d", n)
	}
	return stopped("with a visits cookie of 1000000, /visits counted %d: the count is kept on the server", n)
}

// visits reads the count of a /visits answer.
func visits(c *cell, r reply) int {
	var body struct{ Visits int }
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &body) != nil {
		c.fatalf("GET /visits: %d %s", r.status, r.body)
	}
	return body.Visits
}

// forgeSessionCookie: the attacker has an account, so a real session cookie
// of their own. They edit it, cut it, or write one from scratch that names
// the victim, hoping the server believes what the cookie says.
func forgeSessionCookie(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	c.victim(srv)
	mine := c.signIn(srv, c.attacker(srv)).cookies[sessionCookie]
	forgeries := []struct{ what, value string }{
		{"one character changed", tamper(mine)},
		{"cut in half", mine[:len(mine)/2]},
		{`"alice"`, "alice"},
		{`{"user":"alice"} in base64`, base64.URLEncoding.EncodeToString([]byte(`{"user":"alice"}`))},
	}
	var whats []string
	for _, f := range forgeries {
		forger := c.visitor(srv)
		forger.cookies[sessionCookie] = f.value
		user, status := forger.me()
		if status == http.StatusOK {
			return works("a cookie with %s signs in as %s", f.what, user)
		}
		if status >= 500 {
			return works("a cookie with %s makes /me answer %d: a crash, where the contract wants an anonymous visitor", f.what, status)
		}
		whats = append(whats, f.what)
	}
	return stopped("/me said 401 to each forged cookie: %s", strings.Join(whats, ", "))
}

// tamper changes one character in the middle of a cookie value, keeping it
// in the same alphabet.
func tamper(v string) string {
	if v == "" {
		return "x"
	}
	i := len(v) / 2
	ch := byte('A')
	if v[i] == 'A' {
		ch = 'B'
	}
	return v[:i] + string(ch) + v[i+1:]
}

// replayAfterLogout: someone copied the victim's cookie (malware, a shared
// computer, a proxy's log). The victim logs out, believing that ends it;
// the attacker sends the copy.
func replayAfterLogout(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	victim := c.signIn(srv, c.victim(srv))
	thief := c.visitor(srv)
	victim.copyCookieTo(thief)
	if r := victim.post("/logout", nil); r.status != http.StatusOK {
		c.fatalf("logout: %d %s", r.status, r.body)
	}
	user, status := thief.me()
	if status == http.StatusOK {
		return works("after the victim's logout, the copy still signs in as %s (/me 200)", user)
	}
	return stopped("after the victim's logout, /me said %d to the copy: the session was deleted", status)
}

// sessionFixation: the attacker gets a session id as an anonymous visitor
// and plants it in the victim's browser (from a sibling subdomain, which the
// __Host- prefix prevents, or through a script injected into the page). If
// the login keeps that id, the attacker, who knows it, is signed in as the
// victim.
func sessionFixation(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	a := c.victim(srv)
	attacker := c.visitor(srv)
	attacker.get("/visits") // an anonymous session, from step 2 on
	planted, ok := attacker.cookies[sessionCookie]
	if !ok {
		planted = "chosen-by-the-attacker" // step 1 gives anonymous visitors no session cookie
		attacker.cookies[sessionCookie] = planted
	}
	victim := c.visitor(srv)
	victim.cookies[sessionCookie] = planted
	if r := victim.post("/login", map[string]string{"username": a.name, "password": a.password}); r.status != http.StatusOK {
		c.fatalf("the victim's login: %d %s", r.status, r.body)
	}
	user, status := attacker.me()
	if status == http.StatusOK && user == a.name {
		return works("the id planted before the victim's login signs the attacker in as %s", user)
	}
	renewed := "a new cookie"
	if victim.cookies[sessionCookie] == planted {
		renewed = "the same cookie"
	}
	return stopped("the login gave the victim %s; the planted one: /me %d", renewed, status)
}

// readCookieFromJS: a script injected into the page (a cross-site scripting
// hole) reads document.cookie and sends it to the attacker. HttpOnly keeps a
// cookie out of document.cookie, though the browser still sends it.
func readCookieFromJS(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	a := c.victim(srv)
	tab := c.tab()
	c.browserLogin(tab, srv, a)
	held, ok := c.browserCookie(tab, srv, sessionCookie)
	if !ok {
		c.fatalf("the browser holds no %s cookie after signing in", sessionCookie)
	}
	seen := c.evalString(tab, "document.cookie")
	if strings.Contains(seen, sessionCookie+"=") {
		return works("document.cookie shows the session cookie (cookies %q)", cookieNames(seen))
	}
	return stopped("the browser holds %s (HttpOnly: %v) and sends it, but document.cookie shows only %q",
		held.Name, held.HTTPOnly, cookieNames(seen))
}

// cookieNames lists the names in a document.cookie string, without the
// values: evidence is no place for a cookie.
func cookieNames(documentCookie string) []string {
	names := []string{}
	for _, ck := range strings.Split(documentCookie, ";") {
		if name, _, _ := strings.Cut(strings.TrimSpace(ck), "="); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// sameSiteLogout: the signed-in victim opens the attacker's page on
// another origin of the same site (another port here; a sibling subdomain
// or a user's page on a shared host in real life). Its form posts to the
// app, and the browser sends the session cookie along: SameSite=Lax holds
// cookies back from cross-site requests only. This form signs the victim
// out; one for /logout-all or /sessions/revoke would do those.
func sameSiteLogout(c *cell) verdict {
	return logoutFromPage(c, "127.0.0.1", "another origin of the same site")
}

// crossSiteLogout: the same form on a page of another site. SameSite=Lax
// keeps the session cookie out of that POST, but a logout needs no cookie
// to do harm: its answer expires the cookie in the victim's browser.
func crossSiteLogout(c *cell) verdict {
	return logoutFromPage(c, "localhost", "another site") // localhost and 127.0.0.1 are two sites
}

// logoutFromPage signs the victim in, then has them open the attacker's
// page on host, whose form posts /logout.
func logoutFromPage(c *cell, host, what string) verdict {
	srv := c.startServer(serverOptions{})
	a := c.victim(srv)
	tab := c.tab()
	c.browserLogin(tab, srv, a)
	evil := c.evilPage(host, `<form method="post" action="%s/logout"></form>`, srv.URL)
	req := c.submitFrom(tab, evil, srv, "/logout")
	cookie := "without the session cookie"
	if slices.Contains(req.cookies, sessionCookie) {
		cookie = "with the session cookie"
	}
	if who := c.browserUser(tab, srv); who != a.name {
		if !slices.Contains(req.cookies, sessionCookie) {
			return works("the form on %s (%s) posted /logout %s (SameSite=Lax held it back): %d, whose answer cleared the cookie anyway: the victim is signed out", evil, what, cookie, req.status)
		}
		return works("the form on %s (%s) posted /logout %s: %d, and the victim is signed out", evil, what, cookie, req.status)
	}
	return stopped("the form on %s (%s) posted /logout %s: %d, and the victim is still signed in", evil, what, cookie, req.status)
}

// loginCSRF: the attacker's page, on another site, posts the attacker's own
// username and password to the app's login. No cookie of the victim is
// needed, so SameSite cannot help: the victim's browser comes back signed
// in as the attacker, and what the victim types next (a note, a card
// number, a search) lands in the attacker's account.
func loginCSRF(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	m := c.attacker(srv)
	tab := c.tab()
	evil := c.evilPage("localhost", `<form method="post" action="%s/login">
<input name="username" value="%s"><input name="password" value="%s"></form>`, srv.URL, m.name, m.password)
	req := c.submitFrom(tab, evil, srv, "/login")
	if who := c.browserUser(tab, srv); who == m.name {
		return works("the form on %s (another site) posted /login: %d, and the victim's browser is signed in as %s", evil, req.status, who)
	}
	return stopped("the form on %s (another site) posted /login: %d, and the victim's browser is signed in as nobody", evil, req.status)
}

// commonPasswords starts every guesser's list.
var commonPasswords = []string{
	"123456", "password", "123456789", "12345678", "12345", "qwerty", "1234567",
	"111111", "123123", "abc123", "password1", "1234", "iloveyou", "000000",
	"qwerty123", "dragon", "sunshine", "princess", "letmein",
}

// passwordGuessing: the attacker tries a list of passwords against one
// account, as fast as the server answers. The list holds 19 common ones,
// then the victim's: a weak password is on every list, sooner or later.
func passwordGuessing(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	a := c.victim(srv)
	guesses := append(slices.Clone(commonPasswords), a.password)
	v := c.visitor(srv)
	start := time.Now()
	first429, retryAfter := 0, ""
	for i, g := range guesses {
		r := v.post("/login", map[string]string{"username": a.name, "password": g})
		switch r.status {
		case http.StatusOK:
			return works("guess %d of %d signed in as %s, %s after the first", i+1, len(guesses), a.name, time.Since(start).Round(time.Millisecond))
		case http.StatusTooManyRequests:
			if first429 == 0 {
				first429, retryAfter = i+1, r.header.Get("Retry-After")
			}
		case http.StatusUnauthorized:
		default:
			c.fatalf("login guess %d: %d %s", i+1, r.status, r.body)
		}
	}
	if first429 == 0 {
		c.fatalf("%d guesses, the right one last, and none signed in", len(guesses))
	}
	return stopped("guesses %d to %d got 429 (Retry-After: %ss), the right one, last, too", first429, len(guesses), retryAfter)
}

// userEnumeration: before guessing passwords, the attacker sorts the
// usernames that exist from those that do not, by any difference between
// "no such user" and "wrong password": the status, the message, or the
// time (a server that runs bcrypt only for real users answers the others
// sooner). Five tries of each, under the throttle's limit, and the medians
// compared: only a big difference counts, not the noise of a busy machine.
// (Signup's 409 "taken" tells too, by design: that is what the signup limit
// per address is for.)
func userEnumeration(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	a := c.victim(srv)
	v := c.visitor(srv)
	var known, unknown []reply
	for i := range 5 {
		wrong := map[string]string{"username": a.name, "password": "not the password"}
		nobody := map[string]string{"username": fmt.Sprintf("nobody%d", i), "password": "not the password"}
		if i%2 == 0 {
			known = append(known, v.post("/login", wrong))
			unknown = append(unknown, v.post("/login", nobody))
		} else {
			unknown = append(unknown, v.post("/login", nobody))
			known = append(known, v.post("/login", wrong))
		}
	}
	for i := range known {
		k, u := known[i], unknown[i]
		if k.status != u.status || k.body != u.body {
			return works("a wrong password gets %d %s, an unknown user %d %s", k.status, k.body, u.status, u.body)
		}
	}
	tk, tu := medianTime(known), medianTime(unknown)
	slow, fast := max(tk, tu), min(tk, tu)
	if slow-fast > 25*time.Millisecond && slow > 3*fast {
		return works("same answer (%d), but a wrong password takes %s and an unknown user %s (medians of 5)", known[0].status, tk, tu)
	}
	return stopped("the same %d %s for both; medians of 5: %s for a wrong password, %s for an unknown user",
		known[0].status, known[0].body, tk, tu)
}

func medianTime(rs []reply) time.Duration {
	ts := make([]time.Duration, len(rs))
	for i, r := range rs {
		ts[i] = r.took
	}
	slices.Sort(ts)
	return ts[len(ts)/2].Round(100 * time.Microsecond)
}

// loginFlood: password spraying from one address: one common password
// against each of many usernames, so that no account sees more than one
// failure and no per-account limit trips. The contract caps failures per
// address at 100 in 15 minutes. (A count of failures does not depend on how
// slow the hash is: bcrypt cost 4 keeps the 110 logins quick.)
func loginFlood(c *cell) verdict {
	srv := c.startServer(serverOptions{bcryptCost: "4"})
	v := c.visitor(srv)
	const tries = 110
	for i := 1; i <= tries; i++ {
		r := v.post("/login", map[string]string{"username": fmt.Sprintf("user%03d", i), "password": "123456"})
		switch r.status {
		case http.StatusTooManyRequests:
			return stopped("failed login %d, for user%03d, got 429 (Retry-After: %ss)", i, i, r.header.Get("Retry-After"))
		case http.StatusUnauthorized:
		default:
			c.fatalf("login %d: %d %s", i, r.status, r.body)
		}
	}
	return works("%d failed logins from one address, each for another username: 401 to every one, no limit", tries)
}

// restartSignsOut is a weakness more than an attack: a deploy or a crash
// signs everybody out, and users learn to sign in again whenever asked,
// phishing pages included. Does a session survive a restart?
func restartSignsOut(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	v := c.signIn(srv, c.victim(srv))
	c.restart(srv)
	switch user, status := v.me(); status {
	case http.StatusUnauthorized:
		return works("after a restart (same flags, same SESSION_SECRET) /me said 401: signed out")
	case http.StatusOK:
		return stopped("after a restart (same flags, same SESSION_SECRET) still signed in as %s", user)
	default:
		c.fatalf("/me after a restart: %d", status)
		return verdict{}
	}
}

// secondInstance: the app runs twice behind a load balancer, each instance
// on its own machine (its own memory and disk; the same SESSION_SECRET, and
// in step 5 the same Redis). The victim signs in on one; the next request
// lands on the other. (Two step 4 processes on one machine would share the
// SQLite file and so the sessions: another machine has another disk.)
func secondInstance(c *cell) verdict {
	a := c.startServer(serverOptions{})
	b := c.startServer(serverOptions{})
	alice := c.victim(a)
	c.account(b, alice.name) // the account exists on both, as with a shared user database
	onA := c.signIn(a, alice)
	onB := c.visitor(b)
	onA.copyCookieTo(onB)
	switch user, status := onB.me(); status {
	case http.StatusUnauthorized:
		return works("signed in on instance A, /me on instance B said 401")
	case http.StatusOK:
		return stopped("signed in on instance A, instance B knows the session too: /me 200 as %s", user)
	default:
		c.fatalf("/me on instance B: %d", status)
		return verdict{}
	}
}

// passwordChangeThief: the attacker has a copy of the victim's cookie from
// one device (the laptop). The victim notices and changes the password from
// another (the phone), expecting that to lock the thief out.
func passwordChangeThief(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	a := c.victim(srv)
	laptop, phone := c.signIn(srv, a), c.signIn(srv, a)
	thief := c.visitor(srv)
	laptop.copyCookieTo(thief)
	r := phone.post("/password", map[string]string{"current_password": a.password, "new_password": "a brand new passphrase"})
	if r.status != http.StatusOK {
		c.fatalf("password change: %d %s", r.status, r.body)
	}
	_, phoneStatus := phone.me()
	user, status := thief.me()
	if status == http.StatusOK {
		return works("after the password change, the thief's copy still signs in as %s", user)
	}
	return stopped("after the password change from the phone (/me %d there), the thief's copy of the laptop's cookie: /me %d", phoneStatus, status)
}
