package main

import (
	"context"
	"crypto/rand"
	"net/http"
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
	cookies sessionCookies
	life    lifetimes
	now     func() time.Time // replaced in tests

	mu       sync.RWMutex
	sessions map[string]*record // by id
}

// record is one session as the store keeps it. Nearly every session of this
// app holds a user name or a visit count and nothing else, so those two have
// fields of their own and any other value goes into extra, nil for almost
// every session: that keeps an idle session small (see BENCHMARKS.md).
type record struct {
	user     string
	visits   int
	extra    map[any]any
	created  time.Time
	lastSeen time.Time // the idle deadline is lastSeen + idleTimeout
}

// newRecord keeps the values that Save was given.
func newRecord(values map[any]any, created, lastSeen time.Time) *record {
	rec := &record{created: created, lastSeen: lastSeen}
	for k, v := range values {
		switch {
		case k == userKey && isString(v):
			rec.user = v.(string)
		case k == visitsKey && isInt(v):
			rec.visits = v.(int)
		default:
			if _, meta := k.(metaKey); meta {
				continue // facts that Get added, not values
			}
			if rec.extra == nil {
				rec.extra = make(map[any]any)
			}
			rec.extra[k] = v
		}
	}
	return rec
}

// values gives the handlers their values back, in a map of their own: two
// requests of one session never share a map.
func (rec *record) values() map[any]any {
	v := make(map[any]any, len(rec.extra)+4)
	for k, val := range rec.extra {
		v[k] = val
	}
	if rec.user != "" {
		v[userKey] = rec.user
	}
	if rec.visits != 0 {
		v[visitsKey] = rec.visits
	}
	return v
}

func isString(v any) bool { _, ok := v.(string); return ok }
func isInt(v any) bool    { _, ok := v.(int); return ok }

// NewMemoryStore returns an empty store whose cookies are signed with the
// first secret and verified with any of them.
func NewMemoryStore(secrets [][]byte, cfg config) *MemoryStore {
	return &MemoryStore{
		cookies:  newSessionCookies(secrets, cfg),
		life:     newLifetimes(cfg),
		now:      time.Now,
		sessions: make(map[string]*record),
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

	st.mu.RLock()
	rec, found := st.sessions[id]
	var values map[any]any
	var created, lastSeen time.Time
	if found {
		values, created, lastSeen = rec.values(), rec.created, rec.lastSeen
	}
	st.mu.RUnlock()

	if !found || !now.Before(st.life.expiresAt(created, lastSeen)) {
		return s, nil // expired ones are swept later, but never served
	}
	if now.Sub(lastSeen) >= st.life.touchEvery {
		lastSeen = st.touch(id, now)
	}
	s.ID, s.Values, s.IsNew = id, values, false
	setTimes(s, created, st.life.expiresAt(created, lastSeen))
	return s, nil
}

// touch pushes the idle deadline out, if the session still exists, and
// returns the time it now counts from.
func (st *MemoryStore) touch(id string, now time.Time) time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.sessions[id]
	if !ok {
		return now
	}
	if now.After(rec.lastSeen) {
		rec.lastSeen = now
	}
	return rec.lastSeen
}

// Save stores the session and, for a new one, sets the cookie.
func (st *MemoryStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Options != nil && s.Options.MaxAge < 0 {
		st.delete(s.ID)
		st.cookies.expire(w, s)
		return nil
	}
	now := st.now()

	if s.ID != "" {
		// Update only: if a logout deleted it meanwhile, it stays deleted.
		st.mu.Lock()
		if old, ok := st.sessions[s.ID]; ok {
			st.sessions[s.ID] = newRecord(s.Values, old.created, now)
		}
		st.mu.Unlock()
		return nil
	}

	id := rand.Text() // 26 base32 characters: 128 bits from crypto/rand
	st.mu.Lock()
	st.sessions[id] = newRecord(s.Values, now, now)
	st.mu.Unlock()
	st.cookies.write(w, s, id)
	s.ID, s.IsNew = id, false
	setTimes(s, now, st.life.expiresAt(now, now))
	return nil
}

// RenewID deletes the session and forgets its id; see sessionStore.
func (st *MemoryStore) RenewID(r *http.Request, s *sessions.Session) error {
	st.delete(s.ID)
	s.ID = ""
	return nil
}

func (st *MemoryStore) delete(id string) {
	if id == "" {
		return
	}
	st.mu.Lock()
	delete(st.sessions, id)
	st.mu.Unlock()
}

// Sweep deletes the sessions that have expired by now. Get never serves them
// anyway; sweeping only gives the memory back.
func (st *MemoryStore) Sweep(now time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for id, rec := range st.sessions {
		if !now.Before(st.life.expiresAt(rec.created, rec.lastSeen)) {
			delete(st.sessions, id)
			n++
		}
	}
	return n
}

// Len is how many sessions the store holds, expired or not.
func (st *MemoryStore) Len() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
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
