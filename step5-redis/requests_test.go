package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// readCredentials is where signup and login meet whatever a client sends.
// Whatever the body, it returns credentials or a client error (400, 413,
// 415), never panics, and never changes a field: no trimming, no cutting.
func FuzzReadCredentials(f *testing.F) {
	for _, seed := range []struct{ contentType, body string }{
		{"application/json", `{"username":"alice","password":"wonderland"}`},
		{"application/json", `{"username":"alice","password":"` + strings.Repeat("é", 37) + `"}`},
		{"application/json", `{"username":"alice"}`},
		{"application/json", `{"username": 42}`},
		{"application/json", `{"username":"a\u0000b","password":"\ud83d\ude00"}`},
		{"application/json", `{} {}`},
		{"application/json", `null`},
		{"application/json", `{"username":`},
		{"application/problem+json; charset=utf-8", `{"username":"bob","password":"the-builder"}`},
		{"application/x-www-form-urlencoded", "username=alice&password=wonderland"},
		{"application/x-www-form-urlencoded", "username=alice&username=bob&password=%00%ff"},
		{"application/x-www-form-urlencoded", "username=%zz"},
		{"application/x-www-form-urlencoded", "password=" + strings.Repeat("x", 73)},
		{"multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n--b--\r\n"},
		{"multipart/form-data", "--b\r\n"},
		{"text/plain", "alice wonderland"},
		{"", ""},
		{"application/json", strings.Repeat("[", 10000)},
	} {
		f.Add(seed.contentType, seed.body)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, maxBodyBytes)
		username, password, err := readCredentials(r)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || (re.status != 400 && re.status != 413 && re.status != 415) || re.msg == "" {
				t.Fatalf("not a client error: %#v", err)
			}
			return
		}
		// What was read is what was sent.
		switch mediaType(r) {
		case "application/json":
			var want struct{ Username, Password string }
			if json.Unmarshal([]byte(body), &want) == nil && (want.Username != username || want.Password != password) {
				t.Fatalf("read %q / %q from JSON that holds %+v", username, password, want)
			}
		case "application/x-www-form-urlencoded":
			if form, err := url.ParseQuery(body); err == nil && (form.Get("username") != username || form.Get("password") != password) {
				t.Fatalf("read %q / %q from a form that holds %q / %q", username, password, form.Get("username"), form.Get("password"))
			}
		}
	})
}
