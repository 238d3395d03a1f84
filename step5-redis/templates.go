package main

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are parsed once, at start; a broken template stops the build of the
// test binary and the server, never a request.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
}).ParseFS(templateFS, "templates/*.html"))

// page is what every template gets; each page uses the fields it needs.
type page struct {
	Title   string
	User    string // signed-in user, "" when anonymous
	Error   string
	Visits  int
	Created time.Time
	Expires time.Time

	Sessions []sessionInfo // the user's sessions, on /sessions
}

// render writes a page. It renders into a buffer first, so that a template
// error is a clean 500, not half a page.
func render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
