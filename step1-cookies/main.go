// Command step1-cookies is step 1 of the tutorial: cookies. A plain cookie
// that anyone can edit, then a session that lives in a cookie, signed and
// encrypted so that nobody can read or forge it.
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
