// Command transcript runs a step's curl walkthrough (its try.sh) against the
// real server and compares the output, with dates and cookie values
// normalised, to the golden file its README quotes (try.golden):
//
//	go run ./tools/transcript                      # every step that has a try.sh
//	go run ./tools/transcript step2-memory-sessions
//	go run ./tools/transcript -update              # rewrite the golden files
//
// It builds the step, starts it on a free port with a fixed SESSION_SECRET
// (and, when the step has the flags, a fresh -db, -bcrypt-cost 4 and a
// redis-server of its own), and runs try.sh with BASE set to the server's URL.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	try := exec.CommandContext(ctx, "bash", script)
	try.Dir = tmp
	try.Env = append(os.Environ(), "BASE=http://"+addr)
	out, err := try.CombinedOutput()
	if err != nil {
		return fmt.Errorf("try.sh: %v\n%s", err, out)
	}
	got := normalise(string(out), addr)

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

var expiresRE = regexp.MustCompile(`Expires=[^;]+;`)

var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "2026-01-01T12:00:00Z"},
	{regexp.MustCompile(`(?m)^Date: .*$`), "Date: Thu, 01 Jan 2026 12:00:00 GMT"},
	{regexp.MustCompile(`session=[^;\s"]+`), "session=<cookie>"},
	{regexp.MustCompile(`(?m)(\tsession\t)\S+$`), "${1}<cookie>"},
	{regexp.MustCompile(`(?m)(\t[A-Z]+\t/\t[A-Z]+\t)\d+(\t)`), "${1}1767355200${2}"},
	{regexp.MustCompile(`(?m)^Retry-After: \d+`), "Retry-After: 900"},
}

// normalise makes a run's output comparable with the golden file: the port
// becomes localhost:8080 and dates and cookie values become fixed ones.
func normalise(s, addr string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, addr, "localhost:8080")
	// A cookie's expiry moves with the clock; a deleted cookie's (1970) does not.
	s = expiresRE.ReplaceAllStringFunc(s, func(e string) string {
		if strings.Contains(e, " 1970 ") {
			return e
		}
		return "Expires=Fri, 02 Jan 2026 12:00:00 GMT;"
	})
	for _, n := range normalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
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
