package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hasher hashes and checks passwords with bcrypt.
//
// bcrypt is slow on purpose (about 250ms per hash at cost 12): a thief who
// copies the hashes can try only a few guesses per second and core, where
// a fast hash such as SHA-256 allows billions. The price is that every
// signup and login costs the server as much, so hashing is admitted like
// customers at a counter:
//
//   - at most GOMAXPROCS hashes run at once (slots, a semaphore), and the
//     others wait for a slot in the order they came;
//   - a request waits at most maxWait (a second) for its slot: one that cannot start by then gets
//     errBusy (503, try again), not a wait for an answer nobody waits for;
//   - one client address holds at most as many places, waiting or hashing,
//     as there are slots: a flood from a few addresses fills only its own
//     places, and a newcomer waits behind a few of its hashes, not all.
type hasher struct {
	cost int
	// dummy is a hash of a random password at the same cost. Checking a
	// password for a user who does not exist compares against it, so that
	// the answer takes as long as for a user who does.
	dummy []byte
	slots chan struct{} // one token per bcrypt running
	wait  time.Duration // the longest wait for a slot: maxWait

	mu     sync.Mutex
	places map[string]int // per client address: requests waiting or hashing

	// beforeHash, when a test sets it, runs once a request has its slot.
	beforeHash func(ctx context.Context, addr string)
}

// maxWait is how long a request waits for its turn to hash.
const maxWait = time.Second

// errBusy: no turn to hash came within maxWait, or this address has all
// its places taken.
var errBusy = errors.New("too many passwords to check at once")

// newHasher makes a hasher for a cost within bcrypt.MinCost..MaxCost.
func newHasher(cost int) (*hasher, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, fmt.Errorf("bcrypt at cost %d: %w", cost, err)
	}
	return &hasher{
		cost:   cost,
		dummy:  dummy,
		slots:  make(chan struct{}, runtime.GOMAXPROCS(0)),
		wait:   maxWait,
		places: make(map[string]int),
	}, nil
}

// admit waits for a slot for a request from addr, and returns the function
// that gives the slot back. It fails with errBusy, or with ctx's error when
// the client has gone: no point hashing for nobody.
func (h *hasher) admit(ctx context.Context, addr string) (release func(), err error) {
	h.mu.Lock()
	full := h.places[addr] >= cap(h.slots)
	if !full {
		h.places[addr]++
	}
	h.mu.Unlock()
	if full {
		return nil, errBusy
	}
	leave := func() {
		h.mu.Lock()
		if h.places[addr]--; h.places[addr] == 0 {
			delete(h.places, addr)
		}
		h.mu.Unlock()
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
	case <-timer.C:
		err = errBusy
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && ctx.Err() != nil {
		<-h.slots
		err = ctx.Err()
	}
	if err != nil {
		leave()
		return nil, err
	}
	if h.beforeHash != nil {
		h.beforeHash(ctx, addr)
	}
	return func() { <-h.slots; leave() }, nil
}

// Hash returns the bcrypt hash of password (salt and cost included). A
// password over 72 bytes is an error, never silently cut.
func (h *hasher) Hash(ctx context.Context, addr, password string) ([]byte, error) {
	release, err := h.admit(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer release()
	return bcrypt.GenerateFromPassword([]byte(password), h.cost)
}

// Compare reports whether password matches hash. A nil hash (no such user)
// and a password over 72 bytes never match, but cost a comparison all the
// same, against the dummy hash: how long the answer takes must not tell an
// attacker which usernames exist. Nor may it tell who still has a hash of
// an older, cheaper cost: a wrong password for one costs a dummy comparison
// too. An error (errBusy, or ctx's) means that no password was checked.
func (h *hasher) Compare(ctx context.Context, addr string, hash []byte, password string) (bool, error) {
	// bcrypt itself would compare only the first 72 bytes of a longer
	// password: "72 bytes + anything" would then open the account.
	possible := hash != nil && len(password) <= maxPasswordBytes
	if !possible {
		hash = h.dummy
	}
	release, err := h.admit(ctx, addr)
	if err != nil {
		return false, err
	}
	defer release()
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if cost, _ := bcrypt.Cost(hash); !match && cost < h.cost {
		bcrypt.CompareHashAndPassword(h.dummy, []byte(password))
	}
	return possible && match, nil
}
