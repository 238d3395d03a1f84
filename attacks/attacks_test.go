package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMatrix runs the whole lab, every attack on every step, and fails on
// each cell that differs from what the chapters say, and when the root
// README's matrix is not the one this run found. It takes a minute or two.
func TestMatrix(t *testing.T) {
	for _, tool := range []struct{ name, install string }{
		{"redis-server", "apt-get install redis-server"},
		{chromiumPath, "apt-get install chromium"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			msg := fmt.Sprintf("%s not found (%v): install it with %q; the attack lab is NOT run", tool.name, err, tool.install)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg) // a green run that tested nothing would lie
			}
			fmt.Fprintln(os.Stderr, "WARNING:", t.Name()+":", msg)
			t.Skip(msg)
		}
	}
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	rep, err := runMatrix(context.Background(), root, []int{1, 2, 3, 4, 5}, attacks, &progress)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Attacks {
		for _, c := range r.Cells {
			if c.Outcome != c.Expected {
				t.Errorf("%s on step %d: %s, expected %s: %s", r.Name, c.Step, c.Outcome, c.Expected, c.Evidence)
			}
		}
	}
	if err := checkReadme(filepath.Join(root, "README.md"), rep); err != nil {
		t.Error(err)
	}
	if t.Failed() {
		t.Logf("progress:\n%s", progress.String())
	}
}
