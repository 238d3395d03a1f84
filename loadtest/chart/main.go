// Command chart draws BENCHMARKS.md's chart from the load tool's JSON
// results: one bar per run, its /me throughput, and its ratio to the run
// labelled "ceiling" (a plain net/http handler with no session).
//
//	go run ./loadtest/chart -o docs/benchmarks.png bench-results/me-*.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// result is the part of the load tool's JSON the chart uses.
type result struct {
	Label      string         `json:"label"`
	Route      string         `json:"route"`
	Rate       int            `json:"rate"`
	Requests   uint64         `json:"requests"`
	Throughput float64        `json:"throughput"`
	P50        float64        `json:"p50_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
	Statuses   map[string]int `json:"statuses"`
}

func main() {
	out := flag.String("o", "benchmarks.png", "PNG file to write")
	title := flag.String("title", "/me requests per second, one core (GOMAXPROCS=1)", "chart title")
	table := flag.Bool("table", false, "print a Markdown table of the results instead of drawing")
	flag.Parse()
	if *table {
		if err := printTable(os.Stdout, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "chart:", err)
			os.Exit(1)
		}
		return
	}
	if err := draw1(*out, *title, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

// readResults reads the load tool's JSON files, and the throughput of the
// one labelled "ceiling", if any.
func readResults(files []string) ([]result, float64, error) {
	if len(files) == 0 {
		return nil, 0, fmt.Errorf("no result files given")
	}
	var results []result
	var ceiling float64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, 0, err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f, err)
		}
		if r.Label == "" {
			r.Label = filepath.Base(f)
		}
		if r.Label == "ceiling" {
			ceiling = r.Throughput
		}
		results = append(results, r)
	}
	return results, ceiling, nil
}

// printTable writes one Markdown row per result.
func printTable(w io.Writer, files []string) error {
	results, ceiling, err := readResults(files)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "| run | route | offered | served/s | vs ceiling | p50 ms | p99 ms | max ms | statuses |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---|")
	for _, r := range results {
		offered := "max"
		if r.Rate > 0 {
			offered = fmt.Sprintf("%d/s", r.Rate)
		}
		ratio := ""
		if ceiling > 0 && r.Route == "/me" && r.Rate == 0 && r.Label != "ceiling" {
			ratio = fmt.Sprintf("%.2fx", r.Throughput/ceiling)
		}
		codes := make([]string, 0, len(r.Statuses))
		for c, n := range r.Statuses {
			codes = append(codes, fmt.Sprintf("%s: %d", c, n))
		}
		sort.Strings(codes)
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %.2f | %.2f | %.2f | %s |\n",
			r.Label, r.Route, offered, r.Throughput, ratio, r.P50, r.P99, r.Max, strings.Join(codes, ", "))
	}
	return nil
}

func draw1(out, title string, files []string) error {
	results, ceiling, err := readResults(files)
	if err != nil {
		return err
	}
	maxT := 0.0
	for _, r := range results {
		maxT = max(maxT, r.Throughput)
	}

	const width, rowH, left, top = 960, 44, 230, 70
	height := top + rowH*len(results) + 30
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	face, err := newFace(16)
	if err != nil {
		return err
	}
	ink := image.NewUniform(color.RGBA{0x1d, 0x23, 0x2b, 0xff})
	text(img, face, ink, 20, 35, title)
	barMax := float64(width - left - 260)
	for i, r := range results {
		y := top + i*rowH
		text(img, face, ink, 20, y+24, r.Label)
		w := int(barMax * r.Throughput / maxT)
		c := color.RGBA{0x24, 0x56, 0xa6, 0xff}
		if r.Label == "ceiling" {
			c = color.RGBA{0x9a, 0xa3, 0xb0, 0xff}
		}
		draw.Draw(img, image.Rect(left, y+6, left+w, y+rowH-8), image.NewUniform(c), image.Point{}, draw.Src)
		note := fmt.Sprintf("%.0f/s  p99 %.2fms", r.Throughput, r.P99)
		if ceiling > 0 && r.Label != "ceiling" {
			note = fmt.Sprintf("%.0f/s  %.2fx  p99 %.2fms", r.Throughput, r.Throughput/ceiling, r.P99)
		}
		text(img, face, ink, left+w+8, y+24, note)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newFace(size float64) (font.Face, error) {
	ft, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, err
	}
	return opentype.NewFace(ft, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
}

func text(img draw.Image, face font.Face, ink image.Image, x, y int, s string) {
	d := &font.Drawer{Dst: img, Src: ink, Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
