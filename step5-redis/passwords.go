package main

import (
	"context"
	"crypto/rand"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/semaphore"
)

// hasher hashes and checks passwords with bcrypt.
//
// bcrypt is slow on purpose (about 250ms per hash at cost 12): a thief who
// copies the hashes can try only a few guesses per second and core, where
// a fast hash such as SHA-256 allows billions. The price is that every
// signup and login costs the server as much, so requests take turns to
// hash (see turn):
//
//   - at most GOMAXPROCS hashes run at once, one per core; the other
//     requests wait in line, first come, first served;
//   - before that line, each client address has a line of its own (its
//     lane), from which one request at a time goes on: a flood from one
//     address holds one place in the line for cores, not a thousand;
//   - nobody waits more than maxWait: a request that cannot start by then
//     gets 503 (try again), not an answer nobody waits for.
type hasher struct {
	cost int
	// dummy is a hash of a random password at the same cost. Checking a
	// password for a user who does not exist compares against it, so that
	// the answer takes as long as for a user who does.
	dummy []byte
	cores *semaphore.Weighted // one unit per hash that may run at once

	mu    sync.Mutex
	lanes map[string]*lane // per client address, while it has requests

	// beforeHash runs once a request has its turn: a test sets it to hold
	// or count turns.
	beforeHash func(ctx context.Context, addr string)
	// compare is bcrypt.CompareHashAndPassword; a test counts through it.
	compare func(hash, password []byte) error
}

// lane is one client address's line: a semaphore of one, and the number
// of requests in it, waiting or hashing (the lane goes with the last).
type lane struct {
	*semaphore.Weighted
	requests int
}

// maxWait is how long a request waits for its turn to hash.
const maxWait = time.Second

// newHasher makes a hasher for a cost within bcrypt.MinCost..MaxCost
// (parseFlags checks -bcrypt-cost).
func newHasher(cost int) *hasher {
	// Cannot fail: the cost is in range, and the password 26 bytes long.
	dummy, _ := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	return &hasher{
		cost:       cost,
		dummy:      dummy,
		cores:      semaphore.NewWeighted(int64(runtime.GOMAXPROCS(0))),
		lanes:      make(map[string]*lane),
		compare:    bcrypt.CompareHashAndPassword,
		beforeHash: func(context.Context, string) {},
	}
}

// turn waits, for maxWait at most, first for addr's lane, then for a core,
// and returns the function that ends the turn. It fails with
// context.DeadlineExceeded when maxWait has passed (the server is busy), or
// context.Canceled when the client has gone (also at once, should it be
// gone already): no point hashing for nobody. The semaphores serve their
// waiters in order, so each address has at most one request in the line
// for cores: a newcomer waits behind at most one request of each other
// address, never behind a flood.
func (h *hasher) turn(ctx context.Context, addr string) (done func(), err error) {
	// Join addr's lane, made for its first request; leave removes it with
	// the last, so that the lanes are as many as the addresses in flight.
	h.mu.Lock()
	l := h.lanes[addr]
	if l == nil {
		l = &lane{Weighted: semaphore.NewWeighted(1)}
		h.lanes[addr] = l
	}
	l.requests++
	h.mu.Unlock()
	leave := func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if l.requests--; l.requests == 0 {
			delete(h.lanes, addr)
		}
	}

	wait, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	if err := l.Acquire(wait, 1); err != nil {
		leave()
		return nil, err
	}
	if err := h.cores.Acquire(wait, 1); err != nil {
		l.Release(1)
		leave()
		return nil, err
	}
	h.beforeHash(ctx, addr)
	return func() {
		h.cores.Release(1)
		l.Release(1)
		leave()
	}, nil
}

// Hash returns the bcrypt hash of password (salt and cost included). The
// caller holds a turn, and has checked the password's length: bcrypt
// refuses one over 72 bytes, rather than cut it, and that (or a cost out of
// range, which parseFlags refuses) is its only error.
func (h *hasher) Hash(password string) []byte {
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	return hash
}

// Compare reports whether password matches hash. A nil hash (no such user)
// and a password over 72 bytes never match, but cost a comparison all the
// same, against the dummy hash: how long the answer takes must not tell an
// attacker which usernames exist. Nor may it tell who still has a hash of
// an older, cheaper cost: a wrong password for one costs a dummy comparison
// too. The caller holds a turn.
func (h *hasher) Compare(hash []byte, password string) bool {
	// bcrypt itself would compare only the first 72 bytes of a longer
	// password: "72 bytes + anything" would then open the account.
	if hash == nil || len(password) > maxPasswordBytes {
		h.compare(h.dummy, []byte(password))
		return false
	}
	match := h.compare(hash, []byte(password)) == nil
	if cost, _ := bcrypt.Cost(hash); !match && cost < h.cost {
		h.compare(h.dummy, []byte(password))
	}
	return match
}
