package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every chapter shows at least one screenshot of what its step adds, the
// picture exists, and a browser test of this package takes it, so that it
// stays current (cd e2e && go test . -args -update-screenshots). It needs
// no browser.
func TestEveryChapterShowsAScreenshotTakenHere(t *testing.T) {
	tests, _ := filepath.Glob("*_test.go")
	var src strings.Builder
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	readmes, _ := filepath.Glob(filepath.Join("..", "step*", "README.md"))
	if len(readmes) == 0 {
		t.Skip("no step READMEs next to this folder")
	}
	imageRE := regexp.MustCompile(`!\[[^\]]*\]\(\.\./docs/screenshots/([a-z0-9-]+)\.png\)`)
	for _, readme := range readmes {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		images := imageRE.FindAllStringSubmatch(string(b), -1)
		if len(images) == 0 {
			t.Errorf("%s shows no screenshot from docs/screenshots/", readme)
		}
		for _, m := range images {
			name := m[1]
			if _, err := os.Stat(filepath.Join(screenshotDir, name+".png")); err != nil {
				t.Errorf("%s shows %s.png, which does not exist", readme, name)
			}
			if !strings.Contains(src.String(), `screenshot(t, tab, "`+name+`")`) {
				t.Errorf("%s shows %s.png, which no test of e2e/ takes", readme, name)
			}
		}
	}
}
