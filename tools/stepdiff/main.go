// Command stepdiff prints what one step adds to another, and keeps the files
// that several steps share identical. Readers run it as scripts/stepdiff:
//
//	scripts/stepdiff --code 2 3           the code and templates only: what to read
//	scripts/stepdiff 2 3                  everything: code, tests, READMEs
//	scripts/stepdiff --files 2 3          only the names of the files that differ
//	scripts/stepdiff --check              the checks CI runs (below)
//	scripts/stepdiff --carry 2 secret.go  copy step 2's secret.go to the later
//	                                      steps that share it (see shared.txt)
//	scripts/stepdiff --update-manifest    rewrite shared.txt from the steps as
//	                                      they are now
//
// --check fails when a step's README, in its section "Changes from the
// previous step", does not name every file that differs from the step before
// it, and when a file that shared.txt says is the same in several steps
// differs in one of them: fix it in one step, then carry it forward.
//
// Only files git tracks count (git ls-files), so that what a reader leaves in
// a step's folder (cookie files, binaries, data files) never fails a check;
// files in subfolders count too. Left out everywhere: go.sum, the exercises'
// tests and solutions, test data, pictures.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const manifestName = "tools/stepdiff/shared.txt"

func main() {
	root := flag.String("root", ".", "repository root")
	code := flag.Bool("code", false, "A B: the code and templates only")
	files := flag.Bool("files", false, "A B: the names of the files that differ")
	check := flag.Bool("check", false, "check the Changes sections and the shared files")
	carry := flag.Bool("carry", false, "N FILE: copy step N's FILE to the later steps that share it")
	update := flag.Bool("update-manifest", false, "rewrite "+manifestName+" from the steps as they are")
	flag.Usage = usage
	flag.Parse()
	r := &repo{root: *root}
	steps, err := r.steps()
	if err != nil {
		fatal(err)
	}
	args := flag.Args()
	switch {
	case *check:
		if !r.check(steps) {
			os.Exit(1)
		}
	case *update:
		if err := r.updateManifest(steps); err != nil {
			fatal(err)
		}
	case *carry:
		if len(args) != 2 {
			usage()
		}
		if err := r.carry(steps, args[0], args[1]); err != nil {
			fatal(err)
		}
	case len(args) == 2:
		a, b := r.step(steps, args[0]), r.step(steps, args[1])
		switch {
		case *files:
			for _, f := range r.changed(a, b) {
				fmt.Println(f)
			}
		case *code:
			r.diff(a, b, r.codeFiles(a, b))
		default:
			r.diff(a, b, r.changed(a, b))
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  scripts/stepdiff --code A B          the code and templates of step B against step A
  scripts/stepdiff A B                 every file, tests and READMEs too
  scripts/stepdiff --files A B         the names of the files that differ
  scripts/stepdiff --check             every changed file is named in its README's
                                       "Changes from the previous step"; the files
                                       of `+manifestName+` are the same in their steps
  scripts/stepdiff --carry N FILE      copy step N's FILE to the later steps sharing it
  scripts/stepdiff --update-manifest   record which files the steps share now
`)
	os.Exit(2)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "stepdiff:", err)
	os.Exit(2)
}

type repo struct {
	root    string
	tracked map[string][]string // step folder -> its files, relative to it
}

type step struct {
	n   int
	dir string // e.g. step2-memory-sessions
}

var stepRE = regexp.MustCompile(`^step([0-9]+)-`)

// steps lists the step folders in order.
func (r *repo) steps() ([]step, error) {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, err
	}
	var steps []step
	for _, e := range entries {
		if m := stepRE.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			n, _ := strconv.Atoi(m[1])
			steps = append(steps, step{n, e.Name()})
		}
	}
	if len(steps) == 0 {
		return nil, errors.New("no step folders in " + r.root)
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].n < steps[j].n })
	return steps, nil
}

func (r *repo) step(steps []step, arg string) step {
	n, err := strconv.Atoi(arg)
	if err == nil {
		for _, s := range steps {
			if s.n == n {
				return s
			}
		}
	}
	fatal(fmt.Errorf("no folder step%s-*", arg))
	panic("unreachable")
}

// excluded is what is never the lesson: checksums, the exercises, test
// data, pictures, and what a run leaves (data files, binaries).
func excluded(f string) bool {
	base := path.Base(f)
	first, _, _ := strings.Cut(f, "/")
	switch {
	case base == "go.sum", first == "_solutions", first == "testdata",
		strings.HasPrefix(base, "exercise") && strings.HasSuffix(base, "_test.go"),
		strings.HasSuffix(base, ".png"), strings.Contains(base, ".db"),
		stepRE.MatchString(base):
		return true
	}
	return false
}

// files lists a step's files: what git tracks in it, or, outside a git
// checkout (a downloaded archive), every file in the folder.
func (r *repo) files(s step) []string {
	if r.tracked == nil {
		r.tracked = map[string][]string{}
	}
	if fs, ok := r.tracked[s.dir]; ok {
		return fs
	}
	var list []string
	cmd := exec.Command("git", "ls-files", "-z", "--", s.dir)
	cmd.Dir = r.root
	out, err := cmd.Output()
	if err == nil {
		for _, f := range strings.Split(string(out), "\x00") {
			if rel, ok := strings.CutPrefix(f, s.dir+"/"); ok && !excluded(rel) {
				// A tracked file deleted in the working tree is gone.
				if _, err := os.Stat(filepath.Join(r.root, s.dir, rel)); err == nil {
					list = append(list, rel)
				}
			}
		}
	} else {
		dir := filepath.Join(r.root, s.dir)
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			if rel = filepath.ToSlash(rel); !excluded(rel) {
				list = append(list, rel)
			}
			return nil
		})
	}
	sort.Strings(list)
	r.tracked[s.dir] = list
	return list
}

func (r *repo) read(s step, f string) ([]byte, bool) {
	b, err := os.ReadFile(filepath.Join(r.root, s.dir, f))
	return b, err == nil
}

// changed lists the files that differ between two steps, or are in one only.
func (r *repo) changed(a, b step) []string {
	var out []string
	for _, f := range union(r.files(a), r.files(b)) {
		x, okx := r.read(a, f)
		y, oky := r.read(b, f)
		if okx != oky || !bytes.Equal(x, y) {
			out = append(out, f)
		}
	}
	return out
}

var codeRE = regexp.MustCompile(`^([^/]+\.go|templates/.*|migrations/.*)$`)

// codeFiles lists the files of two steps that hold code or templates and
// differ: no tests, no READMEs or exercises, no walkthroughs.
func (r *repo) codeFiles(a, b step) []string {
	var out []string
	for _, f := range r.changed(a, b) {
		if codeRE.MatchString(f) && !strings.HasSuffix(f, "_test.go") {
			out = append(out, f)
		}
	}
	return out
}

// diff prints a unified diff per file, with a short header.
func (r *repo) diff(a, b step, files []string) {
	for _, f := range files {
		pa, pb := path.Join(a.dir, f), path.Join(b.dir, f)
		fmt.Printf("diff %s %s\n", pa, pb)
		cmd := exec.Command("diff", "-uN", "--label", pa, "--label", pb, pa, pb)
		cmd.Dir, cmd.Stdout, cmd.Stderr = r.root, os.Stdout, os.Stderr
		cmd.Run() // exit 1 means "they differ"
	}
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	sort.Strings(out)
	return slices.Compact(out)
}

// The manifest: one line per file and run of consecutive steps in which it
// is the same, "FILE FIRST-LAST".
type shared struct {
	file        string
	first, last int
}

func (r *repo) readManifest() ([]shared, error) {
	f, err := os.Open(filepath.Join(r.root, manifestName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []shared
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		var s shared
		fields := strings.Fields(t)
		if len(fields) == 2 {
			_, err = fmt.Sscanf(fields[1], "%d-%d", &s.first, &s.last)
		}
		if len(fields) != 2 || err != nil || s.first >= s.last {
			return nil, fmt.Errorf("%s:%d: want FILE FIRST-LAST (steps), got %q", manifestName, line, t)
		}
		s.file = fields[0]
		out = append(out, s)
	}
	return out, sc.Err()
}

// current finds the runs of consecutive steps in which a file is the same.
func (r *repo) current(steps []step) []shared {
	var out []shared
	open := map[string]*shared{} // file -> the run it is in, up to the previous step
	for i := 1; i < len(steps); i++ {
		a, b := steps[i-1], steps[i]
		next := map[string]*shared{}
		for _, f := range r.files(a) {
			x, _ := r.read(a, f)
			y, ok := r.read(b, f)
			if !ok || !bytes.Equal(x, y) || !slices.Contains(r.files(b), f) {
				continue
			}
			if s := open[f]; s != nil {
				s.last = b.n
				next[f] = s
			} else {
				s := &shared{f, a.n, b.n}
				next[f] = s
			}
		}
		for f, s := range open {
			if next[f] == nil {
				out = append(out, *s)
			}
		}
		open = next
	}
	for _, s := range open {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].file != out[j].file {
			return out[i].file < out[j].file
		}
		return out[i].first < out[j].first
	})
	return out
}

func (r *repo) updateManifest(steps []step) error {
	var b strings.Builder
	b.WriteString(`# Files that are the same in several consecutive steps: FILE FIRST-LAST.
# scripts/stepdiff --check fails when one of them differs in one of its
# steps; fix it in one step and carry it forward (scripts/stepdiff --carry N
# FILE). Written by scripts/stepdiff --update-manifest, from the steps as
# they were: rerun it when a step is meant to stop sharing a file.
`)
	for _, s := range r.current(steps) {
		fmt.Fprintf(&b, "%s %d-%d\n", s.file, s.first, s.last)
	}
	if err := os.WriteFile(filepath.Join(r.root, manifestName), []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "stepdiff: wrote %s\n", manifestName)
	return nil
}

func byNumber(steps []step, n int) (step, bool) {
	for _, s := range steps {
		if s.n == n {
			return s, true
		}
	}
	return step{}, false
}

// checkShared reports every file of the manifest that is not the same in
// all its steps.
func (r *repo) checkShared(steps []step) bool {
	manifest, err := r.readManifest()
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "stepdiff: no %s (scripts/stepdiff --update-manifest writes it)\n", manifestName)
		return false
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stepdiff:", err)
		return false
	}
	ok := true
	for _, m := range manifest {
		first, okFirst := byNumber(steps, m.first)
		want, okWant := r.read(first, m.file)
		if !okFirst || !okWant {
			fmt.Fprintf(os.Stderr, "%s: step %d has no %s\n", manifestName, m.first, m.file)
			ok = false
			continue
		}
		for n := m.first + 1; n <= m.last; n++ {
			s, okS := byNumber(steps, n)
			got, okGot := r.read(s, m.file)
			if okS && okGot && bytes.Equal(got, want) {
				continue
			}
			ok = false
			fmt.Fprintf(os.Stderr, "%s/%s differs from %s/%s: the file is shared by steps %d-%d (%s).\n"+
				"  Make the change in one of them and carry it: scripts/stepdiff --carry N %s\n"+
				"  (or, if the steps are meant to differ now: scripts/stepdiff --update-manifest)\n",
				s.dir, m.file, first.dir, m.file, m.first, m.last, manifestName, m.file)
		}
	}
	return ok
}

// carry copies step n's file to the later steps of the manifest run that
// holds step n.
func (r *repo) carry(steps []step, arg, file string) error {
	n, err := strconv.Atoi(arg)
	if err != nil {
		return fmt.Errorf("--carry N FILE: %q is not a step number", arg)
	}
	from, ok := byNumber(steps, n)
	if !ok {
		return fmt.Errorf("no folder step%d-*", n)
	}
	file = strings.TrimPrefix(filepath.ToSlash(file), from.dir+"/")
	src, ok := r.read(from, file)
	if !ok {
		return fmt.Errorf("%s/%s does not exist", from.dir, file)
	}
	manifest, err := r.readManifest()
	if err != nil {
		return err
	}
	copied := 0
	for _, m := range manifest {
		if m.file != file || n < m.first || n > m.last {
			continue
		}
		for k := n + 1; k <= m.last; k++ {
			to, _ := byNumber(steps, k)
			dst := filepath.Join(r.root, to.dir, file)
			if old, _ := os.ReadFile(dst); bytes.Equal(old, src) {
				continue
			}
			if err := os.WriteFile(dst, src, 0o644); err != nil {
				return err
			}
			fmt.Printf("copied %s/%s to %s/%s\n", from.dir, file, to.dir, file)
			copied++
		}
		if m.first < n {
			fmt.Printf("note: steps %d-%d share %s too; if they must change, edit step %d's and carry it: scripts/stepdiff --carry %d %s\n",
				m.first, n-1, file, m.first, m.first, file)
		}
		if copied == 0 {
			fmt.Printf("%s: the later steps sharing it already hold step %d's\n", file, n)
		}
		return nil
	}
	return fmt.Errorf("%s names no run of steps sharing %s that holds step %d", manifestName, file, n)
}

// changesSection returns a README's "Changes from the previous step".
func changesSection(readme []byte) (string, bool) {
	var b strings.Builder
	on, found := false, false
	for _, line := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(line, "## Changes from the previous step"):
			on, found = true, true
			continue
		case strings.HasPrefix(line, "## "):
			on = false
		}
		if on {
			b.WriteString(line + "\n")
		}
	}
	return b.String(), found
}

func (r *repo) check(steps []step) bool {
	ok := true
	for i := 1; i < len(steps); i++ {
		prev, s := steps[i-1], steps[i]
		readme := path.Join(s.dir, "README.md")
		src, _ := r.read(s, "README.md")
		section, found := changesSection(src)
		if !found {
			fmt.Fprintf(os.Stderr, "%s: no section \"## Changes from the previous step\"\n", readme)
			ok = false
		}
		for _, f := range r.changed(prev, s) {
			if f == "README.md" || f == "EXERCISES.md" {
				continue
			}
			if !strings.Contains(section, f) {
				fmt.Fprintf(os.Stderr, "%s: \"Changes from the previous step\" does not mention %s\n", readme, f)
				ok = false
			}
		}
	}
	return r.checkShared(steps) && ok
}
