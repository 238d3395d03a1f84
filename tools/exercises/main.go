// Command exercises verifies the workshop exercises; readers run it as
// scripts/exercises. Each exercise is a patch in stepN-*/_solutions/, of one
// of two kinds:
//
//	NN-name.patch        a reference solution. The exercise's tests (build tag
//	                     "exercise", in exerciseNN_test.go) must FAIL on the
//	                     step as shipped; with the patch applied they must
//	                     PASS, and so must the step's own tests.
//	NN-break-name.patch  a "break it" exercise: the patch removes a defence.
//	                     Its first line names the tests that catch that:
//	                         # breaks: TestName1 TestName2
//	                     They must PASS on the step as shipped and each of
//	                     them must FAIL with the patch applied: that failure
//	                     is the expected result.
//
// Each check runs in a copy of the step in a temporary folder; the step
// itself is never changed. In a git checkout the copy is the step as
// committed (git archive HEAD), so an exercise you have solved in your
// working tree does not count; outside one (a downloaded archive) it is the
// files.
//
//	scripts/exercises                   every exercise of every step
//	scripts/exercises 2                 the exercises of step 2
//	scripts/exercises 2 01              one exercise
//	scripts/exercises --keep DIR 2 01   one exercise, and leave the step with
//	                                    its patch applied in DIR (relative to
//	                                    the repository), to compare:
//	                                    git diff --no-index DIR step2-memory-sessions
//	scripts/exercises --self-test       checks that a broken solution and an
//	                                    undone break are both caught
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func usage() int {
	fmt.Fprint(os.Stderr, `usage:
  scripts/exercises                   every exercise of every step
  scripts/exercises STEP [NN]         the exercises of one step, or one exercise
  scripts/exercises --keep DIR STEP NN  one exercise, and the step with its patch applied in DIR
  scripts/exercises --self-test       a broken solution and an undone break are both caught
`)
	return 2
}

func run(args []string) int {
	root := "."
	if len(args) >= 2 && args[0] == "-root" {
		root, args = args[1], args[2:]
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return fail("%v", err)
	}
	repo := root
	src, cleanup, err := committed(root)
	if err != nil {
		return fail("%v", err)
	}
	defer cleanup()

	if len(args) > 0 && args[0] == "--self-test" {
		return selfTest(src)
	}
	keep := ""
	if len(args) > 0 && args[0] == "--keep" {
		if len(args) < 2 {
			return usage()
		}
		keep, args = args[1], args[2:]
		if !filepath.IsAbs(keep) {
			keep = filepath.Join(repo, keep)
		}
		if entries, err := os.ReadDir(keep); err == nil && len(entries) > 0 {
			return fail("--keep %s: the folder exists and is not empty", keep)
		}
	}
	if len(args) > 2 || (len(args) > 0 && strings.HasPrefix(args[0], "-")) {
		return usage()
	}
	stepArg, numArg := "[0-9]", ""
	if len(args) > 0 {
		stepArg = args[0]
	}
	if len(args) > 1 {
		numArg = args[1]
	}
	patches, _ := filepath.Glob(filepath.Join(src, "step"+stepArg+"*-*", "_solutions", numArg+"*.patch"))
	sort.Strings(patches)
	if len(patches) == 0 {
		return fail("no exercises found")
	}
	if keep != "" && len(patches) != 1 {
		fmt.Fprintf(os.Stderr, "--keep wants one exercise (scripts/exercises --keep DIR STEP NN); this matches %d\n", len(patches))
		return 2
	}
	status := 0
	for _, p := range patches {
		if err := verify(src, p, false); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
			status = 1
		}
	}
	if keep != "" && status == 0 {
		// The whole step, _solutions and all, with the patch applied: a diff
		// against the reader's own folder shows only where the two differ.
		stepDir := filepath.Dir(filepath.Dir(patches[0]))
		if err := copyDir(stepDir, keep, false); err != nil {
			return fail("%v", err)
		}
		if err := apply(keep, patches[0], false); err != nil {
			return fail("%v", err)
		}
		rel, _ := filepath.Rel(repo, keep)
		if strings.HasPrefix(rel, "..") {
			rel = keep
		}
		fmt.Printf("kept %s with %s applied in %s; compare with:\n", filepath.Base(stepDir), filepath.Base(patches[0]), keep)
		fmt.Printf("     git diff --no-index %s %s\n", rel, filepath.Base(stepDir))
	}
	return status
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "exercises: "+format+"\n", args...)
	return 1
}

// committed returns a folder holding the steps as committed, in a git
// checkout, or the repository itself outside one.
func committed(root string) (string, func(), error) {
	head := exec.Command("git", "rev-parse", "--verify", "-q", "HEAD")
	head.Dir = root
	if head.Run() != nil {
		return root, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "exercises-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	cmd := exec.Command("git", "archive", "--format=tar", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("git archive HEAD: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cleanup()
			return "", nil, err
		}
		if !strings.HasPrefix(h.Name, "step") || h.Typeflag != tar.TypeReg {
			continue
		}
		dst := filepath.Join(tmp, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			cleanup()
			return "", nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			cleanup()
			return "", nil, err
		}
		if err := os.WriteFile(dst, data, fs.FileMode(h.Mode)&0o777); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return tmp, cleanup, nil
}

// copyDir copies a folder; without solutions, its _solutions is left out.
func copyDir(from, to string, skipSolutions bool) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if skipSolutions && rel == "_solutions" {
			return filepath.SkipDir
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
}

// apply applies a patch in dir (and, to sabotage, undoes it again). patch
// may keep a backup of a file it patched with an offset (file.orig); those
// are removed, so that a comparison with the folder shows only the change.
func apply(dir, patch string, sabotage bool) error {
	run := func(args ...string) error {
		in, err := os.Open(patch)
		if err != nil {
			return err
		}
		defer in.Close()
		cmd := exec.Command("patch", args...)
		cmd.Dir, cmd.Stdin = dir, in
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s does not apply: %v\n%s", filepath.Base(patch), err, out)
		}
		return nil
	}
	if err := run("-s", "-p1"); err != nil {
		return err
	}
	if sabotage {
		if err := run("-s", "-R", "-p1"); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".orig") {
			return os.Remove(p)
		}
		return err
	})
}

// goTest runs go test in dir and returns its output and whether it passed.
func goTest(dir string, args ...string) (string, bool) {
	cmd := exec.Command("go", append([]string{"test"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

var numRE = regexp.MustCompile(`^([0-9][0-9])-`)

// verify checks one exercise in a copy of its step. With sabotage the patch
// is applied and undone before the checks that need it, so they must fail:
// that is the self-test.
func verify(src, patch string, sabotage bool) error {
	stepDir := filepath.Dir(filepath.Dir(patch))
	step := filepath.Base(stepDir)
	name := strings.TrimSuffix(filepath.Base(patch), ".patch")
	m := numRE.FindStringSubmatch(name)
	if m == nil {
		return fmt.Errorf("%s %s: a patch's name starts with its number, NN-", step, name)
	}
	num := m[1]
	tmp, err := os.MkdirTemp("", "exercise-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "step")
	if err := copyDir(stepDir, dir, true); err != nil {
		return err
	}
	if strings.HasPrefix(name, num+"-break-") {
		return verifyBreak(dir, step, name, patch, sabotage)
	}
	return verifySolution(dir, step, name, num, patch, sabotage)
}

// removeExercises removes the exercises' tests, but keep: unsolved, they
// would fail.
func removeExercises(dir, keep string) {
	tests, _ := filepath.Glob(filepath.Join(dir, "exercise[0-9][0-9]_test.go"))
	for _, t := range tests {
		if filepath.Base(t) != keep {
			os.Remove(t)
		}
	}
}

// verifySolution: the exercise's tests fail as shipped, and with the
// solution they pass together with the step's whole suite, in one
// race-enabled run.
func verifySolution(dir, step, name, num, patch string, sabotage bool) error {
	test := "exercise" + num + "_test.go"
	if _, err := os.Stat(filepath.Join(dir, test)); err != nil {
		return fmt.Errorf("%s %s: no %s next to the solution", step, name, test)
	}
	removeExercises(dir, test)
	before, ok := goTest(dir, "-tags", "exercise", "-count=1", "-run", "^TestExercise"+num+"_", ".")
	if ok {
		return fmt.Errorf("%s %s: the exercise tests pass on the shipped step (they must fail until solved)", step, name)
	}
	if !strings.Contains(before, "--- FAIL: TestExercise"+num+"_") {
		return fmt.Errorf("%s %s: no TestExercise%s_ test ran and failed on the shipped step (do the tests compile?)\n%s", step, name, num, before)
	}
	if err := apply(dir, patch, sabotage); err != nil {
		return fmt.Errorf("%s %s: %v", step, name, err)
	}
	after, ok := goTest(dir, "-race", "-tags", "exercise", "-count=1", "./...")
	if !ok {
		if strings.Contains(after, "--- FAIL: TestExercise"+num+"_") {
			return fmt.Errorf("%s %s: the exercise tests fail with the solution applied\n%s", step, name, after)
		}
		return fmt.Errorf("%s %s: the step's own tests fail with the solution applied\n%s", step, name, after)
	}
	fmt.Printf("ok   %s %s: fails as shipped, passes with the solution\n", step, name)
	return nil
}

// verifyBreak: the tests the patch names pass as shipped and each of them
// fails once the defence is gone.
func verifyBreak(dir, step, name, patch string, sabotage bool) error {
	data, err := os.ReadFile(patch)
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	breaks := strings.Fields(strings.TrimPrefix(first, "# breaks:"))
	if !strings.HasPrefix(first, "# breaks:") || len(breaks) == 0 {
		return fmt.Errorf("%s %s: the patch's first line must be '# breaks: TestName ...'", step, name)
	}
	runRE := "^(" + strings.Join(breaks, "|") + ")$"
	removeExercises(dir, "")
	before, ok := goTest(dir, "-race", "-count=1", "-v", "-run", runRE, ".")
	if !ok {
		return fmt.Errorf("%s %s: %s must pass on the shipped step\n%s", step, name, strings.Join(breaks, " "), before)
	}
	for _, t := range breaks {
		if !strings.Contains(before, "--- PASS: "+t+" ") {
			return fmt.Errorf("%s %s: no test %s ran", step, name, t)
		}
	}
	if err := apply(dir, patch, sabotage); err != nil {
		return fmt.Errorf("%s %s: %v", step, name, err)
	}
	after, ok := goTest(dir, "-race", "-count=1", "-v", "-run", runRE, ".")
	if ok {
		return fmt.Errorf("%s %s: %s still pass with the defence removed", step, name, strings.Join(breaks, " "))
	}
	for _, t := range breaks {
		if !strings.Contains(after, "--- FAIL: "+t+" ") {
			return fmt.Errorf("%s %s: %s did not fail with the defence removed (does the step still compile?)\n%s", step, name, t, after)
		}
	}
	fmt.Printf("ok   %s %s: %s pass as shipped and fail without the defence, as expected (a break-it exercise)\n",
		step, name, strings.Join(breaks, " "))
	return nil
}

// selfTest: a solution undone, and a break undone: the verifier must
// refuse both.
func selfTest(src string) int {
	all, _ := filepath.Glob(filepath.Join(src, "step*", "_solutions", "[0-9][0-9]-*.patch"))
	sort.Strings(all)
	var solution, brk string
	for _, p := range all {
		if strings.Contains(filepath.Base(p), "-break-") {
			if brk == "" {
				brk = p
			}
		} else if solution == "" {
			solution = p
		}
	}
	if solution == "" || brk == "" {
		return fail("no patch of each kind to self-test with")
	}
	for _, p := range []string{solution, brk} {
		rel, _ := filepath.Rel(src, p)
		if err := verify(src, p, true); err == nil {
			return fail("an undone %s passed the verifier", rel)
		}
		fmt.Printf("ok   the verifier catches an undone %s\n", rel)
	}
	return 0
}
