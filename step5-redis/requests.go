package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// requestError is a client error with the status and message to answer.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// credentials are a username and password as the client sent them.
type credentials struct {
	Username string
	Password string
}

// readCredentials takes the username and password from an Authorization:
// Basic header, else from a JSON body or a form. Missing fields are empty
// strings (a failed login, not a bad request); a body that cannot be read
// as what it claims to be is a *requestError, Basic header or not.
func readCredentials(r *http.Request) (credentials, error) {
	var c credentials
	if err := readBody(r, map[string]any{"username": &c.Username, "password": &c.Password}); err != nil {
		return c, err
	}
	if user, pass, ok := r.BasicAuth(); ok {
		c = credentials{Username: user, Password: pass}
	}
	return c, nil
}

// passwordChange is a change of password as the client sent it.
type passwordChange struct {
	Current string
	New     string
}

// readPasswordChange takes the current and the new password from a JSON body
// or a form. Missing fields are empty strings (a wrong password, not a bad
// request).
func readPasswordChange(r *http.Request) (passwordChange, error) {
	var c passwordChange
	err := readBody(r, map[string]any{"current_password": &c.Current, "new_password": &c.New})
	return c, err
}

// readBody reads the named fields of a JSON object or a form into what they
// point to; a field that is missing is left as it is. Any other body is
// empty: requireBodyType answered 415 to the others.
func readBody(r *http.Request, fields map[string]any) error {
	switch {
	case isJSONBody(r):
		return decodeJSON(r.Body, fields)
	case isFormBody(r):
		if err := parseForm(r); err != nil {
			return err
		}
		for name, p := range fields {
			if s, ok := p.(*string); ok { // a form holds strings only
				*s = r.PostFormValue(name)
			}
		}
	}
	return nil
}

// decodeJSON reads one JSON object into fields, strictly. Go's
// decoder is lenient in three ways that would let two readers of one body
// (a proxy or firewall in front, and this server) see two different things:
// it turns bytes that are not UTF-8, and escapes of half a UTF-16 pair
// ("\ud800"), into U+FFFD (so that two different passwords read the same),
// it keeps the last of two equal keys, and it matches keys whatever their
// case. So the body must be valid UTF-8 with no lone surrogate escape, and
// each key one of fields, spelled exactly, at most once.
func decodeJSON(body io.Reader, fields map[string]any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return bodyError(err, "malformed JSON")
	}
	if !utf8.Valid(data) {
		return &requestError{http.StatusBadRequest, "malformed JSON: not valid UTF-8"}
	}
	if loneSurrogate(data) {
		return &requestError{http.StatusBadRequest, "malformed JSON: half of a UTF-16 surrogate pair"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bodyError(err, "malformed JSON: not an object")
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bodyError(err, "malformed JSON")
		}
		key, _ := tok.(string) // in an object, a key
		p, ok := fields[key]
		switch {
		case !ok:
			return &requestError{http.StatusBadRequest, fmt.Sprintf("malformed JSON: unknown key %q", key)}
		case seen[key]:
			return &requestError{http.StatusBadRequest, fmt.Sprintf("malformed JSON: key %q repeated", key)}
		}
		seen[key] = true
		if err := dec.Decode(p); err != nil {
			return bodyError(err, "malformed JSON")
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return bodyError(err, "malformed JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &requestError{http.StatusBadRequest, "malformed JSON: more than one value"}
	}
	return nil
}

// loneSurrogate reports whether JSON text holds an escape of one half of
// a UTF-16 surrogate pair without the other half next to it.
func loneSurrogate(data []byte) bool {
	high := false // the character before was a pair's first half
	for i := 0; i < len(data); i++ {
		r := rune(-1)
		if data[i] == '\\' && i+5 < len(data) && data[i+1] == 'u' {
			if n, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16); err == nil {
				r = rune(n)
			}
		}
		if second := 0xDC00 <= r && r < 0xE000; high != second {
			return true
		}
		high = 0xD800 <= r && r < 0xDC00
		if data[i] == '\\' {
			i++ // past the escaped character: "\\u" escapes a backslash
			if r >= 0 {
				i += 4
			}
		}
	}
	return high
}

// parseForm parses a urlencoded or multipart form body.
func parseForm(r *http.Request) error {
	var err error
	if mediaType(r) == "multipart/form-data" {
		err = r.ParseMultipartForm(maxBodyBytes)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return bodyError(err, "malformed form")
	}
	return nil
}

// bodyError turns an error from reading a body into 413 (too large) or 400.
func bodyError(err error, what string) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &requestError{http.StatusRequestEntityTooLarge, "request body too large (limit 64 KiB)"}
	}
	if err == nil {
		return &requestError{http.StatusBadRequest, what}
	}
	return &requestError{http.StatusBadRequest, fmt.Sprintf("%s: %v", what, err)}
}
