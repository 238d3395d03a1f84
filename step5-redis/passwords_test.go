package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHasher(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	ctx := t.Context()
	password := strings.Repeat("p", 72)
	hash := must(h.Hash(ctx, password))
	if strings.Contains(string(hash), password) {
		t.Fatal("the hash holds the password")
	}
	for _, tc := range []struct {
		name     string
		hash     []byte
		password string
		want     bool
	}{
		{"right password", hash, password, true},
		{"wrong password", hash, strings.Repeat("q", 72), false},
		// bcrypt reads 72 bytes at most: this one would match if passed on.
		{"the right 72 bytes and one more", hash, password + "p", false},
		{"no such user", nil, password, false},
		{"a password over 72 bytes and no user", nil, password + "p", false},
	} {
		if got := must(h.Compare(ctx, tc.hash, tc.password)); got != tc.want {
			t.Errorf("%s: Compare = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := h.Hash(ctx, password+"p"); err == nil {
		t.Error("Hash accepted a password over 72 bytes")
	}
}

// -bcrypt-cost is 12 unless set; below 10 it warns; outside bcrypt's range
// the server does not start.
func TestBcryptCostFlag(t *testing.T) {
	if cfg := must(parseFlags(nil, io.Discard)); cfg.bcryptCost != 12 {
		t.Errorf("default -bcrypt-cost = %d, want 12", cfg.bcryptCost)
	}
	for _, cost := range []string{"3", "32", "-1"} {
		err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-bcrypt-cost", cost}, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-bcrypt-cost") {
			t.Errorf("-bcrypt-cost %s: run returned %v, want an error about -bcrypt-cost", cost, err)
		}
	}
	for cost, wantWarn := range map[string]bool{"9": true, "10": false} {
		ts := startServer(t, nil, "-bcrypt-cost", cost)
		if warned := strings.Contains(ts.logs.String(), "level=WARN msg=\"-bcrypt-cost below 10"); warned != wantWarn {
			t.Errorf("-bcrypt-cost %s: warning logged = %v, want %v", cost, warned, wantWarn)
		}
	}
}

// At most GOMAXPROCS hashes run at once; one waiting for its turn gives up
// when its request is cancelled, and goes on when a turn comes.
func TestHashingWaitsForItsTurnOrGivesUp(t *testing.T) {
	h := must(newHasher(bcrypt.MinCost))
	hash := must(h.Hash(t.Context(), "password"))
	for range cap(h.slots) { // every slot busy, as under a flood of logins
		if err := h.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	// Each of these waits for a turn, then gives up: a comparison for no
	// user, or for a password over 72 bytes, queues like a real one (and
	// so costs a real one's time).
	ctx, cancel := context.WithCancel(t.Context())
	waiting := map[string]func() error{
		"Compare":                func() error { _, err := h.Compare(ctx, hash, "password"); return err },
		"Compare, no such user":  func() error { _, err := h.Compare(ctx, nil, "password"); return err },
		"Compare, over 72 bytes": func() error { _, err := h.Compare(ctx, hash, strings.Repeat("p", 73)); return err },
		"Hash":                   func() error { _, err := h.Hash(ctx, "password"); return err },
	}
	errs := make(map[string]chan error)
	for name, f := range waiting {
		errc := make(chan error, 1)
		errs[name] = errc
		go func() { errc <- f() }()
	}
	cancel()
	for name, errc := range errs {
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled request returned %v, want context.Canceled", name, err)
		}
	}

	ok := make(chan bool, 1)
	go func() { ok <- must(h.Compare(t.Context(), hash, "password")) }()
	h.release() // one turn comes free
	if !<-ok {
		t.Error("a comparison that waited for its turn did not match")
	}

	// A slot is free now, but the request is gone already.
	if _, err := h.Compare(ctx, hash, "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Compare for a cancelled request ran anyway: %v", err)
	}
}
