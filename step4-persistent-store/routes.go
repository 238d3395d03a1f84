package main

import "github.com/gorilla/mux"

// addRoutes is the whole outside of the app in one list.
func addRoutes(r *mux.Router, store sessionStore, users userStore, hasher *hasher, throttle *throttle, db *database) {
	r.Handle("/", handleHome(store)).Methods("GET", "HEAD")
	r.Handle("/visits", handleVisits(store)).Methods("GET", "HEAD")
	r.Handle("/signup", handleSignup(store, users, hasher, throttle)).Methods("POST")
	r.Handle("/login", handleLogin(store, users, hasher, throttle)).Methods("POST")
	r.Handle("/me", handleMe(store)).Methods("GET", "HEAD")
	r.Handle("/sessions", handleSessions(store)).Methods("GET", "HEAD")
	r.Handle("/sessions/revoke", handleRevoke(store)).Methods("POST")
	r.Handle("/password", handlePassword(store, users, hasher, throttle)).Methods("POST")
	r.Handle("/logout", handleLogout(store)).Methods("POST")
	r.Handle("/logout-all", handleLogoutAll(store)).Methods("POST")
	r.Handle("/healthz", handleHealthz(db)).Methods("GET", "HEAD")
}
