package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// requestError is a client error with the status and message to answer.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// credentials are a username and password as the client sent them.
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// readCredentials takes the username and password from an Authorization:
// Basic header, a JSON body or a form, in that order. Missing fields are
// empty strings (a failed login, not a bad request); a body that cannot be
// read as what it claims to be is a *requestError.
func readCredentials(r *http.Request) (credentials, error) {
	if user, pass, ok := r.BasicAuth(); ok {
		return credentials{Username: user, Password: pass}, nil
	}
	var c credentials
	err := readBody(r, &c, func(form func(string) string) {
		c.Username, c.Password = form("username"), form("password")
	})
	return c, err
}

// passwordChange is a change of password as the client sent it.
type passwordChange struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// readPasswordChange takes the current and the new password from a JSON body
// or a form. Missing fields are empty strings (a wrong password, not a bad
// request).
func readPasswordChange(r *http.Request) (passwordChange, error) {
	var c passwordChange
	err := readBody(r, &c, func(form func(string) string) {
		c.Current, c.New = form("current_password"), form("new_password")
	})
	return c, err
}

// readBody reads a JSON body into dst, or a form through fromForm, which
// gets the form's values by name; any other body is 415.
func readBody(r *http.Request, dst any, fromForm func(form func(string) string)) error {
	switch {
	case isJSONBody(r):
		return decodeJSON(r.Body, dst)
	case isFormBody(r):
		if err := parseForm(r); err != nil {
			return err
		}
		fromForm(r.PostFormValue)
	case r.ContentLength != 0 && r.Header.Get("Content-Type") != "":
		return &requestError{http.StatusUnsupportedMediaType, "send a form (application/x-www-form-urlencoded) or JSON (application/json)"}
	}
	return nil
}

// decodeJSON reads exactly one JSON object into dst.
func decodeJSON(body io.Reader, dst any) error {
	dec := json.NewDecoder(body)
	if err := dec.Decode(dst); err != nil {
		return bodyError(err, "malformed JSON")
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return bodyError(err, "malformed JSON: more than one value")
	}
	return nil
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
