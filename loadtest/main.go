// Command loadtest measures a running step: it signs up (or, on steps 1 and
// 2, signs in) N users, then drives one route at a fixed or maximum rate for
// a while, showing progress, and prints throughput, latency percentiles and
// errors by status. It is built on vegeta, so the load loop, pacing and
// latency accounting are a maintained library's, not ours.
//
//	go run ./loadtest -target http://127.0.0.1:8080 -route /me -rate 0 -duration 10s
//	go run ./loadtest -route /login -rate 50 -duration 10s -json
//	go run ./loadtest -route /login -rate 2 -flood 50 -duration 30s
//	go run ./loadtest -route /login -rate 1 -flood 30 -flood-addrs 3 -duration 30s
//	go run ./loadtest -route /login -users 200 -burst
//
// Each user it signs up comes from an address of its own, in
// X-Forwarded-For (198.18.0.0/15, the range set aside for benchmarks): the
// steps allow 10 sign-ups per address an hour, so start the server with
// -trust-proxy. With -flood N, N more connections send logins for made-up
// usernames from -flood-addrs other addresses, as fast as the server
// answers, while the route is driven: the route's figures are then a real
// user's during a login flood. With -burst, every user logs in once, all
// at the same moment, from their own addresses.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type options struct {
	target   string
	route    string
	users    int
	rate     int
	duration time.Duration
	workers  uint64
	password string
	jsonOut  bool
	label    string
	pid      int
	flood    uint64
	floodIPs int
	burst    bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.target, "target", "http://127.0.0.1:8080", "base URL of a running step")
	fs.StringVar(&o.route, "route", "/me", "route to drive: /me, /visits or /login")
	fs.IntVar(&o.users, "users", 50, "users to sign up or in before the run")
	fs.IntVar(&o.rate, "rate", 0, "requests per second; 0 drives as fast as the workers can")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to drive the route")
	fs.Uint64Var(&o.workers, "workers", 16, "concurrent connections (at -rate 0, exactly this many)")
	fs.StringVar(&o.password, "password", "load-test-password", "password of the users it signs up")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.StringVar(&o.label, "label", "", "a name for this run, kept in the JSON")
	fs.IntVar(&o.pid, "server-pid", 0, "the server's process id: report its CPU time per request (Linux)")
	fs.Uint64Var(&o.flood, "flood", 0, "connections that send bogus logins meanwhile, as fast as they can")
	fs.IntVar(&o.floodIPs, "flood-addrs", 1, "addresses the -flood connections come from, in turn")
	fs.BoolVar(&o.burst, "burst", false, "with -route /login: send one login per user, all at once, and report the time to the last answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch o.route {
	case "/me", "/visits", "/login":
	default:
		return fmt.Errorf("-route %q: want /me, /visits or /login", o.route)
	}
	if o.users < 1 {
		return fmt.Errorf("-users must be at least 1")
	}

	fmt.Fprintf(stderr, "signing in %d users at %s ...\n", o.users, o.target)
	users, err := prepareUsers(ctx, o)
	if err != nil {
		return err
	}
	if o.burst {
		fmt.Fprintf(stderr, "logging %d users in at once ...\n", o.users)
	} else {
		fmt.Fprintf(stderr, "driving %s for %v (%s) ...\n", o.route, o.duration, rateString(o.rate, o.workers))
	}
	before, err := cpuTicks(o.pid)
	if err != nil {
		return err
	}
	attackOrBurst := attack
	if o.burst {
		attackOrBurst = burst
	}
	res, err := attackOrBurst(ctx, o, users, stderr)
	if err != nil {
		return err
	}
	if o.pid != 0 {
		after, err := cpuTicks(o.pid)
		if err != nil {
			return err
		}
		res.ServerCPU = float64(after-before) / clockTicks * 1e6 / float64(res.Requests)
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.print(stdout)
	return nil
}

func rateString(rate int, workers uint64) string {
	if rate == 0 {
		return fmt.Sprintf("as fast as %d workers can", workers)
	}
	return fmt.Sprintf("%d/s", rate)
}

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times: 100
// on every architecture Go supports.
const clockTicks = 100

// cpuTicks is the user + system CPU time that process pid has used, in clock
// ticks, or 0 when pid is 0.
func cpuTicks(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("-server-pid: %w", err)
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("-server-pid: cannot read %q", s)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("-server-pid: cannot read %q", s)
	}
	return utime + stime, nil
}
