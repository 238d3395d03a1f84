// Command step3-bcrypt-login is step 3 of the tutorial: users sign up, their
// passwords are kept as bcrypt hashes, and login stops telling which
// usernames exist, slows down guessing and refuses cross-site requests.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
