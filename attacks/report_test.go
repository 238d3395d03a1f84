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

// The text report ends with the matrix, so that it does not scroll away under
// the evidence, and a cell that differs says that a break-it exercise expects it.
func TestTextEndsWithTheMatrix(t *testing.T) {
	a := &attack{name: "demo", title: "a demo attack", steps: []int{1}, works: []int{}}
	rep := newReport([]int{1}, []*attack{a})
	rep.Attacks[0].Cells[0].Outcome = outcomeWorks
	rep.Attacks[0].Cells[0].Evidence = "the evidence"
	rep.finish(0)
	var b strings.Builder
	writeText(&b, rep)
	out := b.String()
	evidence, matrix := strings.Index(out, "the evidence"), strings.Index(out, "attack  step 1")
	if evidence < 0 || matrix < 0 || matrix < evidence {
		t.Errorf("want the evidence, then the matrix:\n%s", out)
	}
	if !strings.Contains(out, "UNEXPECTED") || !strings.Contains(out, "this is the expected result") {
		t.Errorf("a differing cell lacks the break-it note:\n%s", out)
	}
}
