package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChartDrawsOneBarPerResult(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for name, body := range map[string]string{
		"ceiling.json": `{"label":"ceiling","throughput":20000,"p99_ms":1.5}`,
		"step2.json":   `{"label":"step2","throughput":16000,"p99_ms":2.5}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	out := filepath.Join(dir, "chart.png")
	if err := draw1(out, "title", files); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if h := img.Bounds().Dy(); h != 70+44*2+30 {
		t.Errorf("chart is %d pixels high, want room for exactly two bars", h)
	}
	var table strings.Builder
	if err := printTable(&table, files); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "| step2 | ") || strings.Count(table.String(), "\n") != 4 {
		t.Errorf("the table does not have a header and one row per result:\n%s", table.String())
	}
	if err := draw1(out, "title", []string{filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("a missing results file was not an error")
	}
}
