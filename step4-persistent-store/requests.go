package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// requestError is a client error with the status and message to answer.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// readCredentials takes the username and password from an Authorization:
// Basic header, else from a JSON body or a form. Missing fields are empty
// strings (a failed login, not a bad request); a body that cannot be read
// as what it claims to be is a *requestError, Basic header or not.
func readCredentials(r *http.Request) (username, password string, err error) {
	err = readBody(r, map[string]any{"username": &username, "password": &password})
	if user, pass, ok := r.BasicAuth(); ok && err == nil {
		username, password = user, pass
	}
	return username, password, err
}

// readBody reads the named fields of a JSON object or a form into the
// strings they point to; a field that is missing is left as it is. Any other
// body is empty: the middleware answered 415 to the others.
func readBody(r *http.Request, fields map[string]any) error {
	switch {
	case isJSONBody(r):
		return decodeJSON(r.Body, fields)
	case isFormBody(r):
		err := r.ParseForm() // a urlencoded body (of a multipart one, only the URL's query)
		if err == nil && mediaType(r) == "multipart/form-data" {
			err = r.ParseMultipartForm(maxBodyBytes)
		}
		if err != nil {
			return bodyError(err, "malformed form")
		}
		for name, p := range fields {
			*p.(*string) = r.PostFormValue(name) // every field is a string
		}
	}
	return nil
}

// decodeJSON reads one JSON object of strings into fields, strictly, one
// token at a time. Go's decoder is lenient in three ways that would let two
// readers of one body (a proxy or firewall in front, and this server) see
// two different things: it keeps the last of two equal keys, it matches keys
// whatever their case, and it turns bytes that are not UTF-8, and escapes of
// half a UTF-16 pair ("\ud800"), into U+FFFD, so that two different
// passwords would read the same. So each key must be one of fields, spelled
// exactly, at most once, and a value that holds U+FFFD is refused. That
// refuses a U+FFFD sent as such too: nobody types that character in a name
// or a password, and telling it apart would take a scanner of our own.
func decodeJSON(body io.Reader, fields map[string]any) error {
	dec := json.NewDecoder(body)
	if tok, err := dec.Token(); tok != json.Delim('{') {
		return bodyError(err, "malformed JSON: not an object")
	}
	seen := make(map[string]bool)
	for dec.More() {
		key, err := dec.Token() // in an object, a string
		if err != nil {
			return bodyError(err, "malformed JSON")
		}
		value, err := dec.Token()
		if err != nil {
			return bodyError(err, "malformed JSON")
		}
		name, _ := key.(string)
		p, known := fields[name].(*string)
		s, isString := value.(string)
		switch {
		case !known:
			return &requestError{http.StatusBadRequest, fmt.Sprintf("malformed JSON: unknown key %q", key)}
		case seen[name]:
			return &requestError{http.StatusBadRequest, fmt.Sprintf("malformed JSON: key %q repeated", key)}
		case !isString:
			return &requestError{http.StatusBadRequest, fmt.Sprintf("malformed JSON: %q is not a string", key)}
		case strings.ContainsRune(s, utf8.RuneError):
			return &requestError{http.StatusBadRequest, fmt.Sprintf("malformed JSON: %q holds U+FFFD (bytes that are not UTF-8, or half of a UTF-16 surrogate pair)", key)}
		}
		seen[name] = true
		*p = s
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return bodyError(err, "malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bodyError(err, "malformed JSON: more than one value")
	}
	return nil
}

// bodyError turns an error from reading a body into 413 (too large) or 400.
func bodyError(err error, what string) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &requestError{http.StatusRequestEntityTooLarge, "request body too large (limit 64 KiB)"}
	}
	if err != nil {
		what += ": " + err.Error()
	}
	return &requestError{http.StatusBadRequest, what}
}
