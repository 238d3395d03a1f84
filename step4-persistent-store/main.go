// Command step4-persistent-store is step 4 of the tutorial: users and
// sessions live in a SQLite file, so that they survive restarts and crashes;
// the file holds only hashes of the session ids, and a user can list their
// sessions and sign out everywhere.
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
