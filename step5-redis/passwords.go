package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"slices"
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
//   - at most GOMAXPROCS hashes run at once (slots); the other requests
//     wait for a turn, each at most maxWait (a second): one that cannot
//     start by then gets errBusy (503, try again), not a wait for an
//     answer nobody waits for;
//   - one client address holds at most as many places, waiting or
//     hashing, as there are slots: a flood fills only its own places;
//   - a free turn goes to the waiting request whose address holds the
//     fewest places, the oldest of those: a newcomer gets the next turn,
//     ahead of the addresses that keep all their places full.
type hasher struct {
	cost int
	// dummy is a hash of a random password at the same cost. Checking a
	// password for a user who does not exist compares against it, so that
	// the answer takes as long as for a user who does.
	dummy []byte
	slots int           // hashes that may run at once
	wait  time.Duration // the longest wait for a turn: maxWait

	mu      sync.Mutex
	hashing int            // hashes running
	places  map[string]int // requests waiting or hashing, per client address
	waiting []*waiter      // in the order they came

	// beforeHash, when a test sets it, runs once a request has its turn.
	beforeHash func(ctx context.Context, addr string)
	// compare is bcrypt.CompareHashAndPassword; a test counts through it.
	compare func(hash, password []byte) error
}

// waiter is a request waiting for its turn: turn is closed when it has it.
type waiter struct {
	addr string
	turn chan struct{}
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
		cost:    cost,
		dummy:   dummy,
		slots:   runtime.GOMAXPROCS(0),
		wait:    maxWait,
		places:  make(map[string]int),
		compare: bcrypt.CompareHashAndPassword,
	}, nil
}

// admit waits for a turn to hash for a request from addr, and returns the
// function that ends it. It fails with errBusy, or with ctx's error when
// the client has gone: no point hashing for nobody.
func (h *hasher) admit(ctx context.Context, addr string) (done func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.places[addr] >= h.slots {
		h.mu.Unlock()
		return nil, errBusy
	}
	h.places[addr]++
	w := &waiter{addr: addr, turn: make(chan struct{})}
	h.waiting = append(h.waiting, w)
	h.next()
	h.mu.Unlock()

	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case <-w.turn:
	case <-timer.C:
		err = errBusy
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		if !h.leave(w) {
			h.end(addr) // its turn came meanwhile: pass it on
		}
		return nil, err
	}
	if h.beforeHash != nil {
		h.beforeHash(ctx, addr)
	}
	return func() { h.end(addr) }, nil
}

// next gives free turns to waiting requests: each to the one whose address
// holds the fewest places, the oldest of those. h.mu is held.
func (h *hasher) next() {
	for len(h.waiting) > 0 && h.hashing < h.slots {
		best := 0
		for i, w := range h.waiting {
			if h.places[w.addr] < h.places[h.waiting[best].addr] {
				best = i
			}
		}
		w := h.waiting[best]
		h.waiting = slices.Delete(h.waiting, best, best+1)
		h.hashing++
		close(w.turn)
	}
}

// leave takes w out of the line when it gives up. It reports false when w
// had its turn already.
func (h *hasher) leave(w *waiter) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.Index(h.waiting, w)
	if i < 0 {
		return false
	}
	h.waiting = slices.Delete(h.waiting, i, i+1)
	h.drop(w.addr)
	return true
}

// end ends a hash from addr, and gives its turn to the next request.
func (h *hasher) end(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hashing--
	h.next() // while addr still holds this place: it has just had a turn
	h.drop(addr)
}

// drop gives up one of addr's places. h.mu is held.
func (h *hasher) drop(addr string) {
	if h.places[addr]--; h.places[addr] == 0 {
		delete(h.places, addr)
	}
}

// Hash returns the bcrypt hash of password (salt and cost included). A
// password over 72 bytes is an error, never silently cut.
func (h *hasher) Hash(ctx context.Context, addr, password string) ([]byte, error) {
	done, err := h.admit(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer done()
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
	done, err := h.admit(ctx, addr)
	if err != nil {
		return false, err
	}
	defer done()
	match := h.compare(hash, []byte(password)) == nil
	if cost, _ := bcrypt.Cost(hash); !match && cost < h.cost {
		h.compare(h.dummy, []byte(password))
	}
	return possible && match, nil
}
