package main

import (
	"log/slog"
	"net/http"
	"time"
)

// maxBodyBytes bounds every request body: nothing this app accepts is larger.
const maxBodyBytes = 64 << 10

// logRequests writes one line per request. It logs the path, never the query
// string, headers or body: those may carry passwords, cookies or tokens.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

// statusWriter remembers the status of the response, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// checkBody turns away, before any handler reads it, a body that says it is
// too large (413) and a POST body that is neither a form nor JSON, or does
// not say what it is (415: read as nothing, it would be a login with an
// empty username, answered as a failure). An empty body needs no type (curl
// -X POST /logout; Basic credentials). A body that turns out to be too large
// is cut off, and the handler that reads it answers 413 too.
func checkBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ContentLength > maxBodyBytes:
			writeError(w, r, http.StatusRequestEntityTooLarge, "request body too large (limit 64 KiB)")
		case r.Method == http.MethodPost && r.ContentLength != 0 && !isFormBody(r) && !isJSONBody(r):
			writeError(w, r, http.StatusUnsupportedMediaType, "send a form (application/x-www-form-urlencoded) or JSON (application/json)")
		default:
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
			next.ServeHTTP(w, r)
		}
	})
}

// refuseCrossOrigin answers 403 to a state-changing request (POST) that a
// browser sends from another origin: a page elsewhere must not be able to
// sign someone in, up or out with a form that posts here (CSRF). The
// browser says where a request comes from in Sec-Fetch-Site, or in Origin;
// requests with neither (curl, scripts) are let through: no browser, so no
// victim's cookies. SameSite=Lax alone is not enough: it keeps the cookie
// off POSTs from other sites, but another port or subdomain of this host
// is the same site.
func refuseCrossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	return cop.Handler(next)
}

// securityHeaders: pages about who is signed in must not be cached (the Back
// button after logout must not show them), framed, or sniffed.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}
