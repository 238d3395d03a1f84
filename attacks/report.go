package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The outcomes of a cell.
const (
	outcomeWorks   = "works"   // the attack succeeded: the weakness is there
	outcomeStopped = "stopped" // the step defends against it
	outcomeNA      = "n/a"     // the step has nothing the attack aims at
	outcomeError   = "error"   // the lab could not carry the attack out
)

// report is the matrix: one row per attack, one cell per step.
type report struct {
	Steps      []int    `json:"steps"`
	Attacks    []row    `json:"attacks"`
	Unexpected []string `json:"unexpected"` // "NAME on step N: OUTCOME, expected EXPECTED"
	Errors     int      `json:"errors"`     // cells the lab could not run
	Seconds    float64  `json:"seconds"`
}

type row struct {
	Name  string       `json:"name"`
	Title string       `json:"title"`
	Cells []cellResult `json:"cells"`
}

type cellResult struct {
	Step     int     `json:"step"`
	Outcome  string  `json:"outcome"`
	Expected string  `json:"expected"`
	Evidence string  `json:"evidence"`
	Seconds  float64 `json:"seconds"`
}

func newReport(steps []int, rows []*attack) *report {
	rep := &report{Steps: steps, Unexpected: []string{}}
	for _, a := range rows {
		r := row{Name: a.name, Title: a.title}
		for _, s := range steps {
			r.Cells = append(r.Cells, cellResult{Step: s, Expected: a.expected(s)})
		}
		rep.Attacks = append(rep.Attacks, r)
	}
	return rep
}

// expected is what the chapters say the attack does on step.
func (a *attack) expected(step int) string {
	switch {
	case a.steps != nil && !slices.Contains(a.steps, step):
		return outcomeNA
	case slices.Contains(a.works, step):
		return outcomeWorks
	default:
		return outcomeStopped
	}
}

func (rep *report) finish(took time.Duration) {
	rep.Seconds = took.Round(100 * time.Millisecond).Seconds()
	for _, r := range rep.Attacks {
		for _, c := range r.Cells {
			if c.Outcome == outcomeError {
				rep.Errors++
			}
			if c.Outcome != c.Expected {
				rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s on step %d: %s, expected %s", r.Name, c.Step, c.Outcome, c.Expected))
			}
		}
	}
}

func writeJSON(w io.Writer, rep *report) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(rep)
}

// writeText prints the evidence of each cell, then the matrix, then what
// differs from the expectations: the matrix comes last so that it does not
// scroll away under the evidence.
func writeText(w io.Writer, rep *report) {
	for _, r := range rep.Attacks {
		fmt.Fprintf(w, "%s: %s\n", r.Name, r.Title)
		for _, c := range r.Cells {
			fmt.Fprintf(w, "  step %d  %-7s  %s\n", c.Step, c.Outcome, c.Evidence)
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "attack\t")
	for _, s := range rep.Steps {
		fmt.Fprintf(tw, "step %d\t", s)
	}
	fmt.Fprintln(tw)
	for _, r := range rep.Attacks {
		fmt.Fprintf(tw, "%s\t", r.Name)
		for _, c := range r.Cells {
			mark := ""
			if c.Outcome != c.Expected {
				mark = " (!)"
			}
			fmt.Fprintf(tw, "%s%s\t", c.Outcome, mark)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s on %s in %.0fs: ", plural(len(rep.Attacks), "attack"), plural(len(rep.Steps), "step"), rep.Seconds)
	if len(rep.Unexpected) == 0 {
		fmt.Fprintln(w, "every cell as the chapters say.")
		return
	}
	fmt.Fprintf(w, "%d cells differ from what the chapters say (marked (!)):\n", len(rep.Unexpected))
	for _, u := range rep.Unexpected {
		fmt.Fprintf(w, "  UNEXPECTED: %s\n", u)
	}
	fmt.Fprintln(w, "If you removed a defence on purpose (a \"break it\" exercise of EXERCISES.md),")
	fmt.Fprintln(w, "this is the expected result: the attack now works, so the lab exits 1. Undo")
	fmt.Fprintln(w, "the change (git checkout -- the step's files) and the cell turns back.")
}

// The README's matrix lives between these markers.
const (
	beginMarker = "<!-- attacks:begin -->"
	endMarker   = "<!-- attacks:end -->"
)

// markdown is the matrix as the README shows it: outcomes only, no evidence
// (timings change from run to run; the matrix must not).
func markdown(rep *report) string {
	var b strings.Builder
	b.WriteString("| attack |")
	for _, s := range rep.Steps {
		// Each column's head links to the chapter whose claims it backs.
		fmt.Fprintf(&b, " [step %d](%s/README.md#what-is-still-wrong) |", s, stepDirs[s])
	}
	b.WriteString("\n|---|")
	for range rep.Steps {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rep.Attacks {
		fmt.Fprintf(&b, "| %s (`%s`) |", r.Title, r.Name)
		for _, c := range r.Cells {
			out := c.Outcome
			if out == outcomeWorks {
				out = "**works**"
			}
			fmt.Fprintf(&b, " %s |", out)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// readmeMatrix splits a README around its matrix.
func readmeMatrix(path string) (before, matrix, after string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", "", err
	}
	text := string(data)
	i := strings.Index(text, beginMarker)
	j := strings.Index(text, endMarker)
	if i < 0 || j < i {
		return "", "", "", fmt.Errorf("%s has no %s ... %s section", path, beginMarker, endMarker)
	}
	i += len(beginMarker)
	return text[:i], strings.TrimPrefix(text[i:j], "\n"), text[j:], nil
}

func updateReadme(path string, rep *report) error {
	before, _, after, err := readmeMatrix(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(before+"\n"+markdown(rep)+after), 0o644)
}

func checkReadme(path string, rep *report) error {
	_, matrix, _, err := readmeMatrix(path)
	if err != nil {
		return err
	}
	if want := markdown(rep); matrix != want {
		return fmt.Errorf("the matrix in %s is not what this run found: run `go run ./attacks -update-readme %s`\n--- %s\n%s--- this run\n%s",
			path, path, path, matrix, want)
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
