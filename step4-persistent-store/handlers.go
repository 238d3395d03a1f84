package main

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/crypto/bcrypt"
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

// handleVisits counts this visitor's visits in the server-side session. It
// is the one route that gives an anonymous visitor a session.
func handleVisits(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, cookieName)
		if err != nil {
			storeFailed(w, r)
			return
		}
		visits, _ := s.Values[visitsKey].(int)
		visits++
		s.Values[visitsKey] = visits
		// HEAD asks what GET would answer, and changes nothing: it neither
		// makes nor saves a session.
		if r.Method != http.MethodHead {
			if err := s.Save(r, w); err != nil {
				storeFailed(w, r)
				return
			}
		}
		if wantsJSON(r, false) {
			writeJSON(w, http.StatusOK, map[string]int{"visits": visits})
			return
		}
		user, _ := s.Values[userKey].(string)
		render(w, http.StatusOK, "visits.html", page{Title: "Visits", User: user, Visits: visits})
	})
}

// handleLogin checks the credentials and signs the user in, in a session
// with a new id.
func handleLogin(store sessionStore, users userStore, hasher *hasher, throttle *throttle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, err := readCredentials(r)
		if err != nil {
			badRequest(w, r, err)
			return
		}
		username := foldUsername(name)
		hash, ok := checkPassword(w, r, users, hasher, throttle, username, password, loginFailure)
		if !ok {
			return
		}
		s, err := signIn(w, r, store, username)
		if err != nil {
			storeFailed(w, r)
			return
		}
		// A password change since the check has ended the user's sessions,
		// but not this one if it was made after: so look at the hash again,
		// now that the session exists, and take the sign-in back if it moved
		// to one that this password does not open (another login's rehash
		// is no change).
		if now, err := users.FindUser(r.Context(), username); err != nil || !bytes.Equal(now, hash) && !hasher.Compare(now, password) {
			w.Header().Del("Set-Cookie") // the new session's cookie
			s.Options.MaxAge = -1        // deletes the new session
			if s.Save(r, w) != nil || err != nil {
				storeFailed(w, r)
			} else {
				loginFailure(w, r)
			}
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

// checkPassword checks username's password, as login and password change
// do: in the client address's turn to hash, throttled, one bcrypt
// comparison whether the user exists or not, and a new hash when the cost
// has changed. It returns the user's hash, or answers itself (wrong answers
// the wrong password) and returns ok == false.
func checkPassword(w http.ResponseWriter, r *http.Request, users userStore, hasher *hasher, throttle *throttle,
	username, password string, wrong func(http.ResponseWriter, *http.Request)) (hash []byte, ok bool) {
	addr := clientAddr(r, throttle.trustProxy)
	done, err := hasher.turn(r.Context(), addr)
	if err != nil {
		hashingFailed(w, r)
		return nil, false
	}
	defer done()
	if retryAfter, err := throttle.loginRetryAfter(username, addr); err != nil || retryAfter > 0 {
		throttled(w, r, retryAfter, err, "too many failed logins, please try again later")
		return nil, false
	}
	hash, err = users.FindUser(r.Context(), username)
	if err != nil {
		storeFailed(w, r)
		return nil, false
	}
	match := hasher.Compare(hash, password) // a nil hash (no such user) costs a comparison all the same
	if err := throttle.loginChecked(username, addr, match); err != nil {
		storeFailed(w, r)
		return nil, false
	}
	if !match {
		wrong(w, r)
		return nil, false
	}
	// A hash of another cost than -bcrypt-cost (raised, say, since the user
	// signed up) is replaced by one at that cost, made from the password
	// just checked, in the same turn, and only over the hash that was
	// checked, as a password change does. When that fails, the old hash
	// stays, and the next login tries again.
	if cost, _ := bcrypt.Cost(hash); cost != hasher.cost {
		if newHash := hasher.Hash(password); users.SetPassword(r.Context(), username, hash, newHash) == nil {
			hash = newHash
		}
	}
	return hash, true
}

// signIn puts username in the request's session, under a new id, and
// returns the session. A request whose client has gone gets no session:
// nobody would receive its cookie.
func signIn(w http.ResponseWriter, r *http.Request, store sessionStore, username string) (*sessions.Session, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	s, err := store.Get(r, cookieName)
	if err != nil {
		return nil, err
	}
	// A new id at every login: an id that someone planted in this browser
	// before (session fixation) is worth nothing after it.
	if err := store.RenewID(r, s); err != nil {
		return nil, err
	}
	s.Values[userKey] = username
	return s, s.Save(r, w)
}

// throttled answers 429 once a limit is reached, or 503 when the throttle
// cannot tell (err: one kept in a database can fail).
func throttled(w http.ResponseWriter, r *http.Request, retryAfter time.Duration, err error, msg string) {
	if err != nil {
		storeFailed(w, r)
		return
	}
	// When to try again, in whole seconds, rounded up.
	w.Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	writeError(w, r, http.StatusTooManyRequests, msg)
}

// handleSignup creates an account and signs it in, in a session with a new id.
func handleSignup(store sessionStore, users userStore, hasher *hasher, throttle *throttle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, err := readCredentials(r)
		if err != nil {
			badRequest(w, r, err)
			return
		}
		username := foldUsername(name)
		if err := validate(username, password); err != nil {
			writeError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		addr := clientAddr(r, throttle.trustProxy)
		done, err := hasher.turn(r.Context(), addr)
		if err != nil {
			hashingFailed(w, r)
			return
		}
		defer done()
		// Counted here, in the address's turn: it is hashed next.
		if retryAfter, err := throttle.signupAllowed(addr); err != nil || retryAfter > 0 {
			throttled(w, r, retryAfter, err, "too many sign-ups from this address, please try again later")
			return
		}
		err = users.CreateUser(r.Context(), username, hasher.Hash(password))
		if errors.Is(err, errUserExists) {
			writeError(w, r, http.StatusConflict, err.Error())
			return
		}
		if err == nil {
			_, err = signIn(w, r, store, username)
		}
		if err != nil {
			storeFailed(w, r)
			return
		}
		respond(w, r, http.StatusCreated, map[string]any{"user": username}, "/")
	})
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

// handleSessions lists the signed-in user's sessions: when each began, when
// it was last used, in which browser, and which one is this. Never an id,
// only a handle: the list is a way to end a session, not to take one over.
func handleSessions(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, user, ok := signedIn(w, r, store)
		if !ok {
			return
		}
		list, err := store.UserSessions(r.Context(), user, s.ID)
		if err != nil {
			storeFailed(w, r)
			return
		}
		if wantsJSON(r, false) {
			writeJSON(w, http.StatusOK, map[string]any{"user": user, "sessions": list})
			return
		}
		render(w, http.StatusOK, "sessions.html", page{Title: "Your sessions", User: user, Sessions: list})
	})
}

// handleRevoke ends one session of the signed-in user, named by its handle
// from /sessions: a lost phone, a computer left signed in. Only the user's
// own sessions: another user's handle is 404, as an unknown one. Ending
// this browser's own session is a logout.
func handleRevoke(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var handle string
		if err := readBody(r, map[string]any{"id": &handle}); err != nil {
			badRequest(w, r, err)
			return
		}
		s, user, ok := signedIn(w, r, store)
		if !ok {
			return
		}
		if handle == sessionHandle(s.ID) {
			handleLogout(store).ServeHTTP(w, r)
			return
		}
		if found, err := store.DeleteUserSession(r.Context(), user, handle); err != nil {
			storeFailed(w, r)
			return
		} else if !found {
			writeError(w, r, http.StatusNotFound, "you have no such session")
			return
		}
		respond(w, r, http.StatusOK, map[string]any{"user": user}, "/sessions")
	})
}

// handlePassword changes the signed-in user's password (its form is on the
// sessions page). The current password is asked for again, so that a
// session left open on a shared computer is not enough to take the account,
// and it is checked as at login: throttled, with the same counter. Then
// every other session of the user ends (whoever knew the old password, or
// holds a copied cookie, is out) and this one gets a new id.
func handlePassword(store sessionStore, users userStore, hasher *hasher, throttle *throttle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Missing fields are empty strings: a wrong password, not a bad request.
		var current, next string
		if err := readBody(r, map[string]any{"current_password": &current, "new_password": &next}); err != nil {
			badRequest(w, r, err)
			return
		}
		s, username, ok := signedIn(w, r, store)
		if !ok {
			return
		}
		if err := validate(username, next); err != nil { // the username passed at signup: the new password did not
			writeError(w, r, http.StatusBadRequest, "new "+err.Error())
			return
		}
		old, ok := checkPassword(w, r, users, hasher, throttle, username, current, wrongPassword)
		if !ok {
			return
		}
		// The new hash waits for its turn, as every hash does.
		done, err := hasher.turn(r.Context(), clientAddr(r, throttle.trustProxy))
		if err != nil {
			hashingFailed(w, r)
			return
		}
		defer done()
		hash := hasher.Hash(next)
		// In one transaction: the new hash, and no other session of the
		// user. Only over the hash that was checked: of two changes checked
		// against the same old password, the second finds it gone (401).
		if err := store.ChangePassword(r.Context(), username, old, hash, s.ID); errors.Is(err, errPasswordChanged) {
			wrongPassword(w, r)
			return
		} else if err != nil {
			storeFailed(w, r)
			return
		}
		// This session goes on under a new id, as after a login.
		if _, err := signIn(w, r, store, username); err != nil {
			storeFailed(w, r)
			return
		}
		respond(w, r, http.StatusOK, map[string]any{"user": username}, "/sessions")
	})
}

// wrongPassword answers a wrong current password. A browser gets the error
// page, whose Back button returns to the form.
func wrongPassword(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusUnauthorized, "current password is incorrect")
}

// handleLogout deletes the session on the server, so that a copy of the
// cookie is worth nothing, and tells the browser to drop its cookies. When
// the store fails, the answer is 503, and the browser is told all the same:
// whoever signs out on a shared computer must not stay signed in there.
func handleLogout(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Clear-Site-Data", `"cookies"`)
		s, err := store.Get(r, cookieName)
		if err == nil {
			s.Options.MaxAge = -1 // gorilla's way to say "delete": Max-Age=0 on the cookie
			err = s.Save(r, w)
		}
		if err != nil {
			expireCookie(w, r, store)
			storeFailed(w, r)
			return
		}
		respond(w, r, http.StatusOK, map[string]any{"user": nil}, "/")
	})
}

// expireCookie tells the browser to drop the session cookie, without the
// store: a session that was never stored has nothing to delete there.
func expireCookie(w http.ResponseWriter, r *http.Request, store sessionStore) {
	s, _ := store.New(r, cookieName)
	s.Options.MaxAge = -1
	s.Save(r, w) // no id: only the cookie is expired, and that cannot fail
}

// handleLogoutAll signs the user out everywhere: every session of theirs is
// deleted, this one included, so that no copy of any of their cookies, in
// any browser, is worth anything. When the store fails: 503, and this
// browser forgets its cookie all the same, as at logout.
func handleLogoutAll(store sessionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, cookieName)
		if err == nil {
			user, ok := s.Values[userKey].(string)
			if !ok {
				writeError(w, r, http.StatusUnauthorized, "not signed in")
				return
			}
			err = store.DeleteUserSessions(r.Context(), user, "")
		}
		if err != nil { // as at logout: whatever the store says, this browser forgets
			w.Header().Set("Clear-Site-Data", `"cookies"`)
			expireCookie(w, r, store)
			storeFailed(w, r)
			return
		}
		handleLogout(store).ServeHTTP(w, r) // this session is gone too: a logout's answer
	})
}

// handleHealthz answers 200 while the server and its database work, and 503
// when the database does not answer. (A write lock that another process
// holds is waited for up to the busy timeout, 5 s, as a login would wait.)
func handleHealthz(db *database) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := db.Ping(r.Context()); err != nil {
			writeError(w, r, http.StatusServiceUnavailable, "the database is not answering")
			return
		}
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

// storeFailed answers 503 when a store (of sessions, of users, the
// throttle's) cannot be used: never a sign-in, never a stack trace.
func storeFailed(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusServiceUnavailable, "sessions are temporarily unavailable, please try again shortly")
}

// hashingFailed answers 503 to a request that found no turn to hash within
// maxWait.
func hashingFailed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1") // second
	writeError(w, r, http.StatusServiceUnavailable, "the server is busy, please try again shortly")
}
