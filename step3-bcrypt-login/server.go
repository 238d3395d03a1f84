package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"
)

// config is everything that can be set from the command line.
type config struct {
	addr          string
	secureCookies bool
	idleTimeout   time.Duration
	maxLifetime   time.Duration
	bcryptCost    int
	trustProxy    bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "localhost:8080", "address to listen on")
	fs.BoolVar(&cfg.secureCookies, "secure-cookies", true, "mark cookies Secure (browsers still send them to http://localhost)")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 30*time.Minute, "a session ends after this long without use")
	fs.DurationVar(&cfg.maxLifetime, "max-lifetime", 12*time.Hour, "a session ends this long after sign-in, used or not")
	fs.IntVar(&cfg.bcryptCost, "bcrypt-cost", 12, "bcrypt cost of password hashes: each step up doubles the time per hash")
	fs.BoolVar(&cfg.trustProxy, "trust-proxy", false, "count failed logins by the last X-Forwarded-For address (only behind a reverse proxy that sets it)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.idleTimeout <= 0 || cfg.maxLifetime <= 0 {
		return cfg, errors.New("-idle-timeout and -max-lifetime must be positive")
	}
	if cfg.bcryptCost < bcrypt.MinCost || cfg.bcryptCost > bcrypt.MaxCost {
		return cfg, fmt.Errorf("-bcrypt-cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	return cfg, nil
}

// run is the whole program: main only calls it, and tests call it with their
// own arguments, environment and output, on 127.0.0.1:0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h printed the usage; that is not a failure
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if !cfg.secureCookies {
		logger.Warn("-secure-cookies=false: cookies will travel over plain HTTP; use this only behind another host name in development")
	}
	if cfg.bcryptCost < 10 {
		logger.Warn("-bcrypt-cost below 10: leaked password hashes would be quick to crack; use this only in tests")
	}

	secrets, err := sessionSecrets(getenv, logger)
	if err != nil {
		return err
	}
	store := NewMemoryStore(newSessionCookies(secrets, cfg.secureCookies, cfg.maxLifetime), newLifetimes(cfg.idleTimeout, cfg.maxLifetime))
	go store.RunSweeper(ctx, sweepInterval(cfg.idleTimeout))

	srv := &http.Server{
		Handler:           newServer(logger, store, &memoryUsers{}, newHasher(cfg.bcryptCost), newThrottle(cfg.trustProxy)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String())

	// Shutdown as in net/http's ExampleServer_Shutdown: on a signal (or when
	// the caller cancels ctx) stop accepting, let requests in flight finish.
	idleConnsClosed := make(chan struct{})
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			logger.Error("shutdown", "err", err)
		}
		close(idleConnsClosed)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	<-idleConnsClosed
	logger.Info("stopped")
	return nil
}

// newServer builds the whole HTTP handler: the routes, then the middleware
// that every request goes through, innermost first (logRequests sees all).
func newServer(logger *slog.Logger, store sessionStore, users userStore, hasher *hasher, throttle *throttle) http.Handler {
	r := mux.NewRouter()
	addRoutes(r, store, users, hasher, throttle)
	r.Use(checkBody) // on the routes only: a wrong path or method is 404 or 405 first
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "page not found")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusMethodNotAllowed, "method not allowed")
	})
	var h http.Handler = r
	h = refuseCrossOrigin(h)
	h = securityHeaders(h)
	h = logRequests(logger, h)
	return h
}
