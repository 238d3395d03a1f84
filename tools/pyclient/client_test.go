// Package pyclient tests client.py, the Python session that step 1's
// chapter and docs/troubleshooting.md show, against step 1's real server.
package pyclient

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPythonClient runs client.py against step 1, with Secure cookies (the
// jar gets 401, the cookie passed by hand works) and without (the jar works).
// It skips when python3 with requests is not installed.
func TestPythonClient(t *testing.T) {
	if err := exec.Command("python3", "-c", "import requests").Run(); err != nil {
		t.Skip("python3 with requests is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "step1")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir, build.Env = filepath.Join("..", "..", "step1-cookies"), append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build step 1: %v\n%s", err, out)
	}
	for _, c := range []struct {
		flag string
		want []string
	}{
		{"-secure-cookies=true", []string{"session jar: 200 401", "by hand: 200 200 alice"}},
		{"-secure-cookies=false", []string{"session jar: 200 200", "by hand: 200 200 alice"}},
	} {
		t.Run(c.flag, func(t *testing.T) {
			base := start(ctx, t, bin, c.flag)
			out, err := exec.CommandContext(ctx, "python3", "client.py", base).CombinedOutput()
			if err != nil {
				t.Fatalf("client.py: %v\n%s", err, out)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("client.py printed\n%s\nwant\n%s", out, strings.Join(c.want, "\n"))
			}
		})
	}
}

// start runs the server on a free port of localhost and returns its URL.
func start(ctx context.Context, t *testing.T, bin string, args ...string) string {
	t.Helper()
	srv := exec.CommandContext(ctx, bin, append([]string{"-addr", "localhost:0"}, args...)...)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	re := regexp.MustCompile(`msg=listening addr=(\S+)`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return "http://localhost:" + m[1][strings.LastIndex(m[1], ":")+1:]
		}
	}
	t.Fatal("the server stopped before it listened")
	return ""
}
