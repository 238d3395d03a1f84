package main

import "crypto/subtle"

// demoUsers are the two built-in accounts of steps 1 and 2.
//
// TEACHING SHORTCUT, NOT FOR PRODUCTION: the passwords are kept and compared
// in plain text, so anyone who can read this file or the server's memory
// knows them. Step 3 (step3-bcrypt-login) replaces this with sign-up and
// bcrypt password hashes.
var demoUsers = map[string]string{
	"alice": "wonderland",
	"bob":   "the-builder",
}

// checkPassword reports whether password is the password of username. The
// comparison takes the same time however much of the password is right; an
// unknown user is compared too, against "", which nothing matches then.
func checkPassword(username, password string) bool {
	want, ok := demoUsers[username]
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	return ok && match
}

// foldUsername makes "Alice" and "alice" one user. Only ASCII letters fold:
// strings.ToLower would also fold, say, the Kelvin sign "K" into "k", so
// that a look-alike name could reach someone else's account.
func foldUsername(name string) string {
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
