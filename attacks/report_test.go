package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's matrix is rewritten between its markers, and only there, and
// a check of the same run then passes while a different run fails it.
func TestReadmeMatrix(t *testing.T) {
	a := &attack{name: "demo", title: "a demo attack", steps: []int{2, 3}, works: []int{2}}
	rep := newReport([]int{1, 2, 3}, []*attack{a})
	for i, out := range []string{outcomeNA, outcomeWorks, outcomeStopped} {
		rep.Attacks[0].Cells[i].Outcome = out
	}
	rep.finish(0)
	if len(rep.Unexpected) != 0 {
		t.Fatalf("unexpected cells %q in a run that matches its expectations", rep.Unexpected)
	}

	path := filepath.Join(t.TempDir(), "README.md")
	before, after := "# Title\n\n"+beginMarker+"\n", endMarker+"\n\nMore text.\n"
	if err := os.WriteFile(path, []byte(before+"old matrix\n"+after), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkReadme(path, rep); err == nil {
		t.Fatal("checkReadme accepted an out-of-date matrix")
	}
	if err := updateReadme(path, rep); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	got := string(data)
	if !strings.HasPrefix(got, before) || !strings.HasSuffix(got, after) || strings.Contains(got, "old matrix") {
		t.Fatalf("updateReadme changed more or less than the matrix:\n%s", got)
	}
	if !strings.Contains(got, "| a demo attack (`demo`) | n/a | **works** | stopped |") {
		t.Errorf("the matrix lacks the demo row:\n%s", got)
	}
	if err := checkReadme(path, rep); err != nil {
		t.Errorf("checkReadme after updateReadme: %v", err)
	}

	rep.Attacks[0].Cells[2].Outcome = outcomeWorks
	if err := checkReadme(path, rep); err == nil {
		t.Error("checkReadme accepted a matrix that differs in one cell")
	}
}
