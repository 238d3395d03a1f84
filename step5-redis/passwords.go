package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"

	"golang.org/x/crypto/bcrypt"
)

// hasher hashes and checks passwords with bcrypt.
//
// bcrypt is slow on purpose (about 250ms per hash at cost 12 on a laptop):
// a thief who copies the hashes can try only a few guesses per second and
// core, where a fast hash such as SHA-256 allows billions. The price is
// that every signup and login costs the server as much, so hasher lets no
// more than GOMAXPROCS of them run at once: a flood of logins then waits
// in line instead of taking every core from the other requests.
type hasher struct {
	cost  int
	slots chan struct{} // a semaphore: one token per running bcrypt
	// dummy is a hash of a random password at the same cost. Checking a
	// password for a user who does not exist compares against it, so that
	// the answer takes as long as for a user who does.
	dummy []byte
}

// newHasher makes a hasher for a cost within bcrypt.MinCost..MaxCost.
func newHasher(cost int) (*hasher, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, fmt.Errorf("bcrypt at cost %d: %w", cost, err)
	}
	return &hasher{
		cost:  cost,
		slots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		dummy: dummy,
	}, nil
}

// acquire waits for a free slot, or until ctx ends (the client gave up:
// no point hashing for nobody).
func (h *hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.slots }

// Hash returns the bcrypt hash of password (salt and cost included). A
// password over 72 bytes is an error, never silently cut.
func (h *hasher) Hash(ctx context.Context, password string) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.release()
	return bcrypt.GenerateFromPassword([]byte(password), h.cost)
}

// Compare reports whether password matches hash. A nil hash (no such user)
// and a password over 72 bytes never match, but cost one comparison all
// the same, against the dummy hash: how long the answer takes must not
// tell an attacker which usernames exist. The error is ctx's only.
func (h *hasher) Compare(ctx context.Context, hash []byte, password string) (bool, error) {
	// bcrypt itself would compare only the first 72 bytes of a longer
	// password: "72 bytes + anything" would then open the account.
	possible := hash != nil && len(password) <= maxPasswordBytes
	if !possible {
		hash = h.dummy
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if testHookCompare != nil {
		testHookCompare()
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	return possible && err == nil, nil
}

// testHookCompare, when a test sets it, runs at every comparison: a test
// counts with it that every login costs exactly one. Nil in production.
var testHookCompare func()
