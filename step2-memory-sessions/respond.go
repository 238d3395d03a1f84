package main

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// wantsJSON decides between JSON (API clients) and HTML (browsers): JSON when
// the body is JSON or the Accept header prefers application/json to
// text/html. When Accept does not choose (curl sends */*), fallback decides.
func wantsJSON(r *http.Request, fallback bool) bool {
	j, h := acceptQuality(r, "application/json"), acceptQuality(r, "text/html")
	return isJSONBody(r) || j > h || (j == h && fallback)
}

// apiByDefault is the fallback for routes that answer JSON unless a browser
// asks for a page, and for POSTs that are not form submissions.
func apiByDefault(r *http.Request) bool {
	return r.Method != http.MethodPost || !isFormBody(r)
}

func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}

func isJSONBody(r *http.Request) bool {
	mt := mediaType(r)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func isFormBody(r *http.Request) bool {
	mt := mediaType(r)
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// acceptQuality is the q-value that the request's Accept header gives to a
// media type, through its most specific matching range (type/sub, then
// type/*, then */*).
func acceptQuality(r *http.Request, mediaType string) float64 {
	typ, _, _ := strings.Cut(mediaType, "/")
	ranks := map[string]int{mediaType: 3, typ + "/*": 2, "*/*": 1}
	q, best := 0.0, 0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(part)
		if rank := ranks[mt]; err == nil && rank > best {
			q, best = 1, rank
			if v, err := strconv.ParseFloat(params["q"], 64); err == nil {
				q = v
			}
		}
	}
	return q
}

// writeJSON writes v as the JSON body of a response. v is one of this app's
// answers, maps and structs of strings, numbers and booleans: they always
// encode.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// respond answers body as JSON to API clients, and sends browsers to page
// (303 See Other: the browser GETs it, so a reload does not post again).
func respond(w http.ResponseWriter, r *http.Request, status int, body any, page string) {
	if wantsJSON(r, apiByDefault(r)) {
		writeJSON(w, status, body)
		return
	}
	http.Redirect(w, r, page, http.StatusSeeOther)
}

// writeError answers {"error": msg} to API clients and an error page to
// browsers, with the same status.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r, apiByDefault(r)) {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	render(w, status, "error.html", page{Title: http.StatusText(status), Error: msg})
}
