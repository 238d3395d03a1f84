package main

import "net/http"

// account is someone who can sign in to a step's server.
type account struct{ name, password string }

// Steps 1 and 2 have two built-in users; from step 3 on, accounts come from
// /signup, and the lab makes them with these passwords.
var demoPasswords = map[string]string{"alice": "wonderland", "bob": "the-builder"}

// victim is alice, who has an account on the server.
func (c *cell) victim(srv *server) account { return c.account(srv, "alice") }

// attacker has an account of their own: bob in steps 1-2 (the only other
// user there), mallory from step 3.
func (c *cell) attacker(srv *server) account {
	if srv.step <= 2 {
		return c.account(srv, "bob")
	}
	return c.account(srv, "mallory")
}

// account returns name's account, signing it up first from step 3. A
// second server with its own data gets its own copy of the account.
func (c *cell) account(srv *server, name string) account {
	if srv.step <= 2 {
		return account{name, demoPasswords[name]}
	}
	a := account{name, name + "'s long passphrase"}
	r := c.visitor(srv).post("/signup", map[string]string{"username": a.name, "password": a.password})
	if r.status != http.StatusCreated && r.status != http.StatusConflict {
		c.fatalf("step %d: sign up %s: %d %s", srv.step, name, r.status, r.body)
	}
	return a
}

// signIn returns a visitor signed in to srv as a, or ends the attack.
func (c *cell) signIn(srv *server, a account) *visitor {
	v := c.visitor(srv)
	r := v.post("/login", map[string]string{"username": a.name, "password": a.password})
	if r.status != http.StatusOK || v.cookies[sessionCookie] == "" {
		c.fatalf("step %d: log in as %s: %d %s", srv.step, a.name, r.status, r.body)
	}
	return v
}
