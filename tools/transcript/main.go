// Command transcript runs a step's curl walkthrough (its try.sh) against the
// real server and compares the output, with times, cookie values and the
// run's unique names normalised (see normalise), to the golden file its
// README quotes (try.golden):
//
//	go run ./tools/transcript                      # every step that has a try.sh
//	go run ./tools/transcript step2-memory-sessions
//	go run ./tools/transcript -update              # rewrite the golden files
//
// It builds the step, starts it on a free port with a fixed SESSION_SECRET
// (and, when the step has the flags, a fresh -db, -bcrypt-cost 4 and a
// redis-server of its own), and runs try.sh under sh (dash on Debian, as a
// reader runs it) with BASE set to the server's URL. Every command the
// transcript shows must be pasteable: one holding a placeholder (<id>,
// <cookie1>...) fails the check.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	update := flag.Bool("update", false, "rewrite try.golden instead of comparing")
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	steps := flag.Args()
	if len(steps) == 0 {
		found, _ := filepath.Glob(filepath.Join(*root, "step*", "try.sh"))
		for _, f := range found {
			steps = append(steps, filepath.Base(filepath.Dir(f)))
		}
	}
	failed := false
	for _, step := range steps {
		if err := check(filepath.Join(*root, step), *update); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", step, err)
			failed = true
		} else {
			fmt.Printf("%s: transcript ok\n", step)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func check(dir string, update bool) error {
	tmp, err := os.MkdirTemp("", "transcript-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	bin := filepath.Join(tmp, "server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir, build.Env = dir, append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	usage, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	args := []string{"-addr", "127.0.0.1:0"}
	if bytes.Contains(usage, []byte("-bcrypt-cost")) {
		args = append(args, "-bcrypt-cost", "4")
	}
	if bytes.Contains(usage, []byte("-db")) {
		args = append(args, "-db", filepath.Join(tmp, "app.db"))
	}
	if bytes.Contains(usage, []byte("-redis")) {
		url, stop, err := startRedis(ctx, tmp)
		if err != nil {
			return err
		}
		defer stop()
		args = append(args, "-redis", url)
	}

	srv := exec.CommandContext(ctx, bin, args...)
	srv.Env = append(os.Environ(), "SESSION_SECRET=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	stderr, err := srv.StderrPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	addr, err := listenAddr(stderr)
	if err != nil {
		return err
	}

	script, err := filepath.Abs(filepath.Join(dir, "try.sh"))
	if err != nil {
		return err
	}
	// A run id of its own, so that the golden file shows <id> where an
	// older try.sh made its names unique with TRY_ID.
	id := fmt.Sprintf("%08x", rand.Uint32())
	// sh, as a reader on any system runs it (dash on Debian).
	try := exec.CommandContext(ctx, "sh", script)
	try.Dir = tmp
	try.Env = append(os.Environ(), "BASE=http://"+addr, "TRY_ID="+id)
	out, err := try.CombinedOutput()
	if err != nil {
		return fmt.Errorf("try.sh: %v\n%s", err, out)
	}
	got := normalise(string(out), addr, id)
	if err := pasteable(got); err != nil {
		return err
	}

	golden := filepath.Join(dir, "try.golden")
	if update {
		return os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		return err
	}
	if got != string(want) {
		return fmt.Errorf("output differs from try.golden (run with -update if the change is meant):\n%s", lineDiff(string(want), got))
	}
	return nil
}

// listenAddr reads the server's log until its "listening" line.
func listenAddr(stderr interface{ Read([]byte) (int, error) }) (string, error) {
	re := regexp.MustCompile(`msg=listening addr=(\S+)`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() { // keep draining, so the server never blocks on its log
				for sc.Scan() {
				}
			}()
			return m[1], nil
		}
	}
	return "", fmt.Errorf("the server stopped before it listened")
}

// startRedis starts a throw-away redis-server on a free port.
func startRedis(ctx context.Context, dir string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.CommandContext(ctx, "redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("redis-server: %w", err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), func() { cmd.Process.Kill(); cmd.Wait() }, nil
}

// normalise makes a run's output comparable with the golden file, keeping
// what a reader is meant to check:
//   - the port becomes localhost:8080;
//   - every time becomes <t0>, <t0+30m>, <t0+12h>...: its distance from the
//     earliest time of the run, to the minute (a walkthrough takes seconds,
//     the deadlines it shows are minutes and hours apart), so that a reader
//     can check created_at against expires_at. A deleted cookie's 1970 stays;
//   - every session cookie value becomes <cookie1>, <cookie2>... in the order
//     they first appear: the same value the same placeholder, a new one a new;
//   - every session handle of /sessions becomes <handle1>, <handle2>...,
//     in the same way;
//   - the digits a walkthrough appends to the names it signs up
//     (alice-$id, with id=$(date +%s)) become <id>, as does TRY_ID.
func normalise(s, addr, id string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, addr, "localhost:8080")
	s = normaliseTimes(s)
	cookies := map[string]string{}
	for _, re := range cookieREs {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			name, value := sub[1], sub[2]
			if cookies[value] == "" {
				cookies[value] = fmt.Sprintf("<cookie%d>", len(cookies)+1)
			}
			return name + cookies[value]
		})
	}
	handles := map[string]string{}
	s = handleRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := handleRE.FindStringSubmatch(m)
		if handles[sub[2]] == "" {
			handles[sub[2]] = fmt.Sprintf("<handle%d>", len(handles)+1)
		}
		return sub[1] + handles[sub[2]]
	})
	s = nameRE.ReplaceAllString(s, "${1}<id>")
	s = strings.ReplaceAll(s, id, "<id>")
	return strings.ReplaceAll(s, strings.ToUpper(id), "<id>")
}

// nameRE finds a name a walkthrough made unique: alice-1767355200, in any
// spelling.
var nameRE = regexp.MustCompile(`(?i)\b(alice-)[0-9]{6,}\b`)

// pasteable fails when a command of the transcript (a line starting with
// "$ ") holds a placeholder: the README quotes these lines for readers to
// paste, so each must run as shown (a unique name is a shell variable set in
// the walkthrough's first line, not <id>).
func pasteable(s string) error {
	for i, line := range strings.Split(s, "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok && placeholderRE.MatchString(cmd) {
			return fmt.Errorf("line %d: a command with a placeholder cannot be pasted: %s", i+1, line)
		}
	}
	return nil
}

var placeholderRE = regexp.MustCompile(`<(id|t0[^>]*|cookie[0-9]+|handle[0-9]+)>`)

// handleRE finds a session handle: the "id" of a session in /sessions, or
// the id a walkthrough posts to /sessions/revoke.
var handleRE = regexp.MustCompile(`((?:"id":"|id=))([0-9a-f]{64})\b`)

// cookieREs find a session cookie's value: in a Cookie or Set-Cookie header
// or a JSON body, and in a curl cookie jar (name TAB value).
var cookieREs = []*regexp.Regexp{
	regexp.MustCompile(`((?:__Host-)?session=)([^;\s"]+)`),
	regexp.MustCompile(`(?m)(\t(?:__Host-)?session\t)(\S+)$`),
}

// timeRE finds the times a walkthrough prints: RFC 3339 (JSON bodies), HTTP
// dates (Date, a cookie's Expires) and Unix seconds (a curl cookie jar).
var timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)` +
	`|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT` +
	`|\t(?:TRUE|FALSE)\t\d{9,11}\t`)

func parseTime(m string) (t time.Time, prefix, suffix string) {
	if strings.HasPrefix(m, "\t") { // a cookie jar's "\tTRUE\t1767355200\t"
		f := strings.Split(m, "\t")
		sec, _ := strconv.ParseInt(f[2], 10, 64)
		return time.Unix(sec, 0), "\t" + f[1] + "\t", "\t"
	}
	if t, err := time.Parse(time.RFC3339Nano, m); err == nil {
		return t, "", ""
	}
	t, _ = time.Parse(http.TimeFormat, m)
	return t, "", ""
}

func normaliseTimes(s string) string {
	var t0 time.Time
	for _, m := range timeRE.FindAllString(s, -1) {
		if t, _, _ := parseTime(m); t.Year() > 2000 && (t0.IsZero() || t.Before(t0)) {
			t0 = t
		}
	}
	return timeRE.ReplaceAllStringFunc(s, func(m string) string {
		t, prefix, suffix := parseTime(m)
		if t.Year() <= 2000 {
			return m
		}
		return prefix + offset(t.Sub(t0).Round(time.Minute)) + suffix
	})
}

// offset writes d as <t0>, <t0+30m>, <t0+12h>, <t0+12h30m>.
func offset(d time.Duration) string {
	if d == 0 {
		return "<t0>"
	}
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	return "<t0" + sign + b.String() + ">"
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
