package main

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/sessions"
)

// loginFailed is the one answer to every failed login: wrong password,
// unknown user, missing field. Different messages would tell an attacker
// which usernames exist.
const loginFailed = "invalid username or password"

// handleHome shows the login form, or who is signed in.
func handleHome(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, cookieName)
		if err != nil {
			storeFailed(w, r)
			return
		}
		user, _ := s.Values[userKey].(string)
		created, expires := sessionTimes(s)
		render(w, http.StatusOK, "home.html", page{Title: "Home", User: user, Created: created, Expires: expires})
	})
}

// handleVisits counts this visitor's visits in a plain cookie. That is the
// lesson of this page: the browser keeps the count and sends back whatever it
// likes, and the server believes it.
func handleVisits(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, cookieName)
		if err != nil {
			storeFailed(w, r)
			return
		}
		visits := 0
		if c, err := r.Cookie(visitsCookie); err == nil {
			// A forged count is believed; only what is no count at all (or
			// one that would overflow) starts again from 0.
			if n, err := strconv.Atoi(c.Value); err == nil && n >= 0 && n < math.MaxInt {
				visits = n
			}
		}
		visits++
		// The session cookie's options (Path=/, Max-Age, Secure, SameSite=Lax),
		// but not HttpOnly, on purpose: scripts and you, in the developer
		// tools, may edit this one.
		opts := *s.Options
		opts.HttpOnly = false
		http.SetCookie(w, sessions.NewCookie(visitsCookie, strconv.Itoa(visits), &opts))
		if wantsJSON(r, false) {
			writeJSON(w, http.StatusOK, map[string]int{"visits": visits})
			return
		}
		user, _ := s.Values[userKey].(string)
		render(w, http.StatusOK, "visits.html", page{Title: "Visits", User: user, Visits: visits})
	})
}

// handleLogin checks the credentials and signs the user in: the username and
// the login time go into the session cookie.
func handleLogin(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, err := readCredentials(r)
		if err != nil {
			badRequest(w, r, err)
			return
		}
		username := foldUsername(name)
		if !checkPassword(username, password) {
			loginFailure(w, r)
			return
		}
		if _, err := signIn(w, r, store, username); err != nil {
			storeFailed(w, r)
			return
		}
		respond(w, r, http.StatusOK, map[string]any{"user": username}, "/")
	})
}

func loginFailure(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r, apiByDefault(r)) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": loginFailed})
		return
	}
	render(w, http.StatusUnauthorized, "home.html", page{Title: "Sign in", Error: loginFailed})
}

// signIn puts username in a new session, and returns the session.
func signIn(w http.ResponseWriter, r *http.Request, store sessionStore, username string) (*sessions.Session, error) {
	// A new session at every login, whoever was signed in before.
	s, err := store.New(r, cookieName)
	if err != nil {
		return nil, err
	}
	s.Values[userKey] = username
	return s, s.Save(r, w)
}

// handleMe says who is signed in, and until when.
func handleMe(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, user, ok := signedIn(w, r, store)
		if !ok {
			return
		}
		created, expires := sessionTimes(s)
		writeJSON(w, http.StatusOK, struct { // a struct, not a map: its fields keep their order
			User      string `json:"user"`
			CreatedAt string `json:"created_at"`
			ExpiresAt string `json:"expires_at"`
		}{user, created.UTC().Format(time.RFC3339), expires.UTC().Format(time.RFC3339)})
	})
}

// signedIn returns the request's session and its user. When nobody is signed
// in it answers 401 (503 when the store fails) and returns ok == false.
func signedIn(w http.ResponseWriter, r *http.Request, store sessionStore) (*sessions.Session, string, bool) {
	s, err := store.Get(r, cookieName)
	if err != nil {
		storeFailed(w, r)
		return nil, "", false
	}
	user, ok := s.Values[userKey].(string)
	if !ok {
		writeError(w, r, http.StatusUnauthorized, "not signed in")
		return nil, "", false
	}
	return s, user, true
}

// handleLogout tells the browser to drop its cookies. That is all it can do:
// the server keeps nothing to delete, so a copy of the cookie taken before
// still works until it expires. Step 2 fixes that.
func handleLogout(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Clear-Site-Data", `"cookies"`)
		s, _ := store.New(r, cookieName)
		s.Options.MaxAge = -1 // gorilla's way to say "delete": Max-Age=0 on the cookie
		s.Save(r, w)          // only expires the cookie: that cannot fail
		respond(w, r, http.StatusOK, map[string]any{"user": nil}, "/")
	})
}

// handleHealthz answers 200 while the server can serve.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// badRequest answers a *requestError with its status; anything else is 400.
func badRequest(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	if errors.As(err, &re) {
		writeError(w, r, re.status, re.msg)
		return
	}
	writeError(w, r, http.StatusBadRequest, "bad request")
}

// storeFailed answers 503 when the session store cannot be used: never a
// sign-in, never a stack trace.
func storeFailed(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusServiceUnavailable, "sessions are temporarily unavailable, please try again shortly")
}
