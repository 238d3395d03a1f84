// Command step5-redis is step 5 of the tutorial: sessions live in Redis,
// which several instances of the app share, each with a TTL; users stay in
// SQLite. When Redis is unreachable the app fails closed (503, nobody signed
// in) and recovers by itself when it is back.
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
