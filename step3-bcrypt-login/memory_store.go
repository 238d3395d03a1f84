package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/sessions"
)

// MemoryStore is a gorilla/sessions Store that keeps sessions in a map, on the
// server; see sessionStore for what it guarantees.
//
// Its weakness is a later step's subject: it is memory, so a restart signs
// everybody out, and a second server cannot see these sessions.
type MemoryStore struct {
	cookies      sessionCookies
	life         lifetimes
	maxAnonymous int              // see defaultMaxAnonymous; tests set less
	now          func() time.Time // replaced in tests

	mu        sync.Mutex         // guards the fields below, and every record in sessions
	sessions  map[string]*record // by id
	anonymous int                // how many of them have no user
}

// record is one session as the store keeps it.
type record struct {
	values   map[any]any // a copy of its own (see copyValues)
	created  time.Time
	lastSeen time.Time // the idle deadline is lastSeen + idleTimeout
}

// copyValues copies a session's values, but not the facts that Get added
// (metaKey). The store keeps a copy and hands out copies, so that two
// requests of one session never share a map, nor a list of flashes (AddFlash
// appends to it). Any other value is shared as it is: the handlers store
// strings, ints and flashes.
func copyValues(values map[any]any) map[any]any {
	out := make(map[any]any, len(values))
	for k, v := range values {
		if _, meta := k.(metaKey); meta {
			continue
		}
		if list, ok := v.([]any); ok {
			v = slices.Clone(list)
		}
		out[k] = v
	}
	return out
}

// isAnonymous reports whether values belong to a session without a user.
func isAnonymous(values map[any]any) bool {
	_, ok := values[userKey].(string)
	return !ok
}

// NewMemoryStore returns an empty store whose session cookies are cookies,
// and whose sessions last as life says.
func NewMemoryStore(cookies sessionCookies, life lifetimes) *MemoryStore {
	return &MemoryStore{
		cookies:      cookies,
		life:         life,
		maxAnonymous: defaultMaxAnonymous,
		now:          time.Now,
		sessions:     make(map[string]*record),
	}
}

// New returns a new, empty session that is not stored yet: Save stores it and
// gives it its id.
func (st *MemoryStore) New(r *http.Request, name string) (*sessions.Session, error) {
	return st.cookies.newSession(st, name), nil
}

// Get returns the session named by the request's cookie, or a new one when
// there is no cookie or it names no live session.
func (st *MemoryStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s := st.cookies.newSession(st, name)
	id, ok := st.cookies.readID(r, name)
	if !ok {
		return s, nil
	}
	now := st.now()

	st.mu.Lock()
	defer st.mu.Unlock()
	rec, found := st.sessions[id]
	if !found || !now.Before(st.life.expiresAt(rec.created, rec.lastSeen)) {
		return s, nil // expired ones are swept later, but never served
	}
	// HEAD changes nothing, not even the idle deadline.
	if r.Method != http.MethodHead && now.Sub(rec.lastSeen) >= st.life.touchEvery {
		rec.lastSeen = now
	}
	s.ID, s.Values, s.IsNew = id, copyValues(rec.values), false
	setTimes(s, rec.created, st.life.expiresAt(rec.created, rec.lastSeen))
	return s, nil
}

// Save stores the session and, for a new one, sets the cookie. A new
// anonymous session past maxAnonymous is not stored and gets no cookie: the
// visitor stays anonymous, and nobody signed in is affected.
func (st *MemoryStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Options != nil && s.Options.MaxAge < 0 {
		st.delete(s.ID)
		st.cookies.expire(w, s)
		return nil
	}
	now, values := st.now(), copyValues(s.Values)

	st.mu.Lock()
	if s.ID != "" {
		// Update only, and only a live session: if a logout deleted it (or
		// it expired) since this request read it, it stays gone.
		if rec, ok := st.sessions[s.ID]; ok && now.Before(st.life.expiresAt(rec.created, rec.lastSeen)) {
			st.count(rec.values, -1)
			rec.values, rec.lastSeen = values, now
			st.count(values, +1)
		}
		st.mu.Unlock()
		return nil
	}
	if isAnonymous(values) && st.anonymous >= st.maxAnonymous {
		st.mu.Unlock()
		return nil
	}
	id := rand.Text() // 26 base32 characters: 128 bits from crypto/rand
	st.sessions[id] = &record{values: values, created: now, lastSeen: now}
	st.count(values, +1)
	st.mu.Unlock()

	if err := st.cookies.write(w, s, id); err != nil {
		return err
	}
	s.ID, s.IsNew = id, false
	setTimes(s, now, st.life.expiresAt(now, now))
	return nil
}

// count adds n to the anonymous sessions when values are anonymous. The
// caller holds mu.
func (st *MemoryStore) count(values map[any]any, n int) {
	if isAnonymous(values) {
		st.anonymous += n
	}
}

// RenewID deletes the session and forgets its id; see sessionStore.
func (st *MemoryStore) RenewID(r *http.Request, s *sessions.Session) error {
	st.delete(s.ID)
	s.ID = ""
	return nil
}

func (st *MemoryStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if rec, ok := st.sessions[id]; ok {
		st.count(rec.values, -1)
		delete(st.sessions, id)
	}
}

// Sweep deletes the sessions that have expired by now. Get never serves them
// anyway; sweeping only gives the memory back.
func (st *MemoryStore) Sweep(now time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for id, rec := range st.sessions {
		if !now.Before(st.life.expiresAt(rec.created, rec.lastSeen)) {
			st.count(rec.values, -1)
			delete(st.sessions, id)
			n++
		}
	}
	return n
}

// Len is how many sessions the store holds, expired or not.
func (st *MemoryStore) Len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.sessions)
}

// RunSweeper sweeps every interval until ctx is done.
func (st *MemoryStore) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st.Sweep(st.now())
		}
	}
}
