package main

import (
	"context"
	"crypto/rand"
	"errors"
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
// more than GOMAXPROCS of them run at once, and no more than
// waitingPerSlot requests per slot wait for a turn. One more is turned
// away at once (errBusy: 503 with Retry-After).
//
// The bound is a queue length rather than a wait deadline: a flood then
// holds at most that many waiting requests, however fast it comes, and a
// request that waits does so for at most waitingPerSlot hashes before its
// own, about a second at the default cost. A deadline alone would let
// a fast flood pile up waiting requests, each holding its memory, until
// the deadline. The clock is bounded too, by the request's own deadline
// (handlerTimeout in server.go).
type hasher struct {
	cost  int
	slots chan struct{} // a semaphore: one token per running bcrypt
	queue chan struct{} // one token per request waiting for a slot
	// dummy is a hash of a random password at the same cost. Checking a
	// password for a user who does not exist compares against it, so that
	// the answer takes as long as for a user who does.
	dummy []byte
}

// waitingPerSlot is how many requests may wait for each hashing slot.
const waitingPerSlot = 4

// errBusy: every hashing slot is taken and the queue is full.
var errBusy = errors.New("too many passwords to check at once")

// testHookHashing, when not nil, runs when a request has got its hashing
// slot, before bcrypt, with the request's context: tests use it to hold a
// request there. Nil in production.
var testHookHashing func(ctx context.Context)

// newHasher makes a hasher for a cost within bcrypt.MinCost..MaxCost.
func newHasher(cost int) (*hasher, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, fmt.Errorf("bcrypt at cost %d: %w", cost, err)
	}
	slots := runtime.GOMAXPROCS(0)
	return &hasher{
		cost:  cost,
		slots: make(chan struct{}, slots),
		queue: make(chan struct{}, waitingPerSlot*slots),
		dummy: dummy,
	}, nil
}

// acquire takes a free slot, or waits for one in the queue. It gives up
// with errBusy when the queue is full, and with ctx's error when ctx ends
// (the client gave up, or the request ran out of time: no point hashing
// for nobody).
func (h *hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.slots <- struct{}{}: // a free slot
	default:
		select {
		case h.queue <- struct{}{}: // a place in the queue
		default:
			return errBusy
		}
		defer func() { <-h.queue }()
		select {
		case h.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if testHookHashing != nil {
		testHookHashing(ctx)
	}
	return nil
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
// tell an attacker which usernames exist. An error (errBusy, or ctx's)
// means that no comparison was made.
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
