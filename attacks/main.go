// Command attacks is the attack lab: it starts each step's real server, runs
// every attack the chapters talk about against it, and prints which attacks
// work where.
//
// From the repository's root:
//
//	go run ./attacks                 # one line of evidence per cell, then the whole matrix
//	go run ./attacks -step 2         # one step
//	go run ./attacks -attack restart # one attack
//	go run ./attacks -json           # for programs
//	go run ./attacks -update-readme README.md   # rewrite the matrix in the README
//	go run ./attacks -check-readme README.md    # fail when the README's matrix is not this run's
//
// Each attack knows on which steps it is expected to work (the chapters'
// "What is still wrong"); the lab exits with status 1 when a result differs,
// naming the cell. It only ever talks to servers it started itself, on
// 127.0.0.1, and needs go, gcc, redis-server (step 5) and chromium (the
// browser attacks).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit status: 0 when every cell
// is as expected (and the README, if checked, shows this run's matrix), 1
// when not, 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("attacks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	step := fs.Int("step", 0, "run one step's column (1-5) rather than all")
	only := fs.String("attack", "", "run one attack's row (see the list below) rather than all")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	update := fs.String("update-readme", "", "rewrite the matrix between the attacks markers of this README")
	check := fs.String("check-readme", "", "exit 1 when this README's matrix differs from the run's")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./attacks [flags]\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nattacks:\n")
		for _, a := range attacks {
			fmt.Fprintf(stderr, "  %-20s %s\n", a.name, a.title)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "attacks: "+format+"\n", args...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments: %q", fs.Args())
	}
	steps := []int{1, 2, 3, 4, 5}
	if *step != 0 {
		if stepDirs[*step] == "" {
			return usage("-step %d: the steps are 1 to 5", *step)
		}
		steps = []int{*step}
	}
	rows := attacks
	if *only != "" {
		i := slices.IndexFunc(attacks, func(a *attack) bool { return a.name == *only })
		if i < 0 {
			return usage("-attack %q: no such attack (-h lists them)", *only)
		}
		rows = attacks[i : i+1]
	}
	if (*update != "" || *check != "") && (*step != 0 || *only != "") {
		return usage("-update-readme and -check-readme need the whole matrix: drop -step and -attack")
	}
	wd, err := os.Getwd()
	if err != nil {
		return usage("%v", err)
	}
	root, err := findRoot(wd)
	if err != nil {
		return usage("%v", err)
	}

	rep, err := runMatrix(ctx, root, steps, rows, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "attacks: %v\n", err)
		return 1
	}
	if *asJSON {
		writeJSON(stdout, rep)
	} else {
		writeText(stdout, rep)
	}
	code := 0
	if len(rep.Unexpected) > 0 {
		code = 1
	}
	if *update != "" {
		if rep.Errors > 0 {
			fmt.Fprintf(stderr, "attacks: %d cells could not be run: %s is left as it is\n", rep.Errors, *update)
			return 1
		}
		if err := updateReadme(*update, rep); err != nil {
			fmt.Fprintf(stderr, "attacks: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "attacks: wrote the matrix into %s\n", *update)
	}
	if *check != "" {
		if err := checkReadme(*check, rep); err != nil {
			fmt.Fprintf(stderr, "attacks: %v\n", err)
			return 1
		}
	}
	return code
}

// runMatrix runs each attack on each step, one cell at a time (timing
// attacks need a quiet machine), and reports progress to progress.
func runMatrix(ctx context.Context, root string, steps []int, rows []*attack, progress io.Writer) (*report, error) {
	start := time.Now()
	l, err := newLab(ctx, root)
	if err != nil {
		return nil, err
	}
	defer l.close()
	// The first step's attacks start as soon as it is built.
	fmt.Fprintf(progress, "building steps %v\n", steps)
	var builds sync.WaitGroup
	defer builds.Wait() // before close removes the folder they build into
	sem := make(chan struct{}, 2)
	for _, s := range steps {
		builds.Add(1)
		go func() {
			defer builds.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			l.build(s) // a failed build shows up as an error in that step's cells
		}()
	}

	rep := newReport(steps, rows)
	for _, step := range steps {
		for i, a := range rows {
			res := &rep.Attacks[i].Cells[slices.Index(steps, step)]
			if res.Expected == outcomeNA {
				res.Outcome, res.Evidence = outcomeNA, a.na
				continue
			}
			if ctx.Err() != nil {
				res.Outcome, res.Evidence = outcomeError, "interrupted"
				continue
			}
			t0 := time.Now()
			v, err := (&cell{lab: l, step: step}).run(a)
			res.Seconds = time.Since(t0).Round(10 * time.Millisecond).Seconds()
			switch {
			case err != nil:
				res.Outcome, res.Evidence = outcomeError, err.Error()
			case v.works:
				res.Outcome, res.Evidence = outcomeWorks, v.evidence
			default:
				res.Outcome, res.Evidence = outcomeStopped, v.evidence
			}
			mark := ""
			if res.Outcome != res.Expected {
				mark = fmt.Sprintf("   <- expected %s", res.Expected)
			}
			fmt.Fprintf(progress, "step %d  %-20s %-8s %5.1fs%s\n", step, a.name, res.Outcome, res.Seconds, mark)
		}
	}
	rep.finish(time.Since(start))
	return rep, nil
}
