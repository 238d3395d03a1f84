// Command step2-memory-sessions is step 2 of the tutorial: the cookie stops
// holding the data and starts holding an id; the data lives on the server,
// in memory.
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
