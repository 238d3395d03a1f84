// Command docsync keeps the code and the transcripts quoted in the READMEs
// identical to their sources, so that the prose cannot drift from the code.
// A README marks a quote like this:
//
//	<!-- code: memory_store.go MemoryStore.Save -->
//	```go
//	(the declaration, copied from the file)
//	```
//	<!-- end -->
//
// "code: FILE" quotes a whole file; "code: FILE NAME" one top-level
// declaration (a func, Type.Method, type, const or var), with its doc
// comment. "output: FILE" quotes a file verbatim (a golden transcript).
// Paths are relative to the README.
//
//	go run ./tools/docsync            # check: exit 1 on any difference
//	go run ./tools/docsync -update    # rewrite the quotes from the sources
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	update := flag.Bool("update", false, "rewrite the quotes instead of checking them")
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	readmes, _ := filepath.Glob(filepath.Join(*root, "*.md"))
	more, _ := filepath.Glob(filepath.Join(*root, "*", "*.md"))
	readmes = append(readmes, more...)
	failed := false
	for _, path := range readmes {
		if err := syncFile(path, *update); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
		}
	}
	if failed {
		if !*update {
			fmt.Fprintln(os.Stderr, "docsync: quotes differ from their sources; run: go run ./tools/docsync -update")
		}
		os.Exit(1)
	}
}

// A quote: the marker line, a fenced block, and <!-- end -->.
var quoteRE = regexp.MustCompile("(?s)(<!-- (code|output): ([^ >]+)(?: ([^ >]+))? -->\n```([a-z]*)\n)(.*?)(```\n<!-- end -->)")

// syncFile checks (or rewrites) every quote of one Markdown file.
func syncFile(path string, update bool) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	var broken, stale []string
	out := quoteRE.ReplaceAllFunc(src, func(m []byte) []byte {
		g := quoteRE.FindSubmatch(m)
		kind, file, name, body := string(g[2]), string(g[3]), string(g[4]), string(g[6])
		want, err := quote(filepath.Join(dir, file), kind, name)
		if err != nil {
			broken = append(broken, fmt.Sprintf("%s: %s: %s %s: %v", path, kind, file, name, err))
			return m
		}
		if want != body {
			stale = append(stale, fmt.Sprintf("%s: the quote of %s %s differs from the source", path, file, name))
		}
		return []byte(string(g[1]) + want + string(g[7]))
	})
	if update {
		if !bytes.Equal(out, src) {
			if err := os.WriteFile(path, out, 0o644); err != nil {
				return err
			}
		}
		stale = nil
	}
	if problems := append(broken, stale...); len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// quote returns what a quote of file (and of the declaration name in it)
// must hold, ending in a newline.
func quote(file, kind, name string) (string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	if kind == "output" || name == "" {
		s := string(src)
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		return s, nil
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		return "", err
	}
	for _, decl := range f.Decls {
		start, end, ok := declRange(decl, name)
		if ok {
			return string(src[fset.Position(start).Offset:fset.Position(end).Offset]) + "\n", nil
		}
	}
	return "", fmt.Errorf("no declaration %q", name)
}

// declRange is where decl starts (its doc comment included) and ends, when
// it declares name.
func declRange(decl ast.Decl, name string) (token.Pos, token.Pos, bool) {
	switch d := decl.(type) {
	case *ast.FuncDecl:
		full := d.Name.Name
		if d.Recv != nil && len(d.Recv.List) == 1 {
			t := d.Recv.List[0].Type
			if star, ok := t.(*ast.StarExpr); ok {
				t = star.X
			}
			if id, ok := t.(*ast.Ident); ok {
				full = id.Name + "." + d.Name.Name
			}
		}
		if full != name {
			return 0, 0, false
		}
		if d.Doc != nil {
			return d.Doc.Pos(), d.End(), true
		}
		return d.Pos(), d.End(), true
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			var names []*ast.Ident
			switch s := spec.(type) {
			case *ast.TypeSpec:
				names = []*ast.Ident{s.Name}
			case *ast.ValueSpec:
				names = s.Names
			}
			for _, id := range names {
				if id.Name == name {
					if d.Doc != nil {
						return d.Doc.Pos(), d.End(), true
					}
					return d.Pos(), d.End(), true
				}
			}
		}
	}
	return 0, 0, false
}
