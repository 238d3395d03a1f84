package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
)

// SQLiteStore is a gorilla/sessions Store that keeps sessions in the SQLite
// file, so that they outlive the process; see sessionStore for what it
// guarantees.
//
// A row is found by the SHA-256 of the session id, and the id itself is
// stored nowhere: a copy of the database file (a backup, a stolen disk)
// holds no cookie that would sign anybody in. A plain, fast hash is enough:
// the id is 128 random bits, so there is nothing to guess, and no salt or
// slow hash (as for passwords) is needed.
//
// Its weakness is the next step's subject: the file is on one machine, so a
// second server cannot share these sessions.
type SQLiteStore struct {
	db           *database
	cookies      sessionCookies
	life         lifetimes
	maxAnonymous int              // see defaultMaxAnonymous; tests set less
	now          func() time.Time // replaced in tests
	logger       *slog.Logger
}

// NewSQLiteStore returns a store in db whose session cookies are cookies,
// and whose sessions last as life says.
func NewSQLiteStore(db *database, cookies sessionCookies, life lifetimes, logger *slog.Logger) *SQLiteStore {
	return &SQLiteStore{db: db, cookies: cookies, life: life, maxAnonymous: defaultMaxAnonymous, now: time.Now, logger: logger}
}

// idHash is the key of a session's row: the SHA-256 of its id.
func idHash(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// sessionHandle is the handle of a session (see sessionInfo): the key of its
// row.
func sessionHandle(id string) string { return hex.EncodeToString(idHash(id)) }

// maxUserAgent bounds what a client can make the store keep.
const maxUserAgent = 256

// New returns a new, empty session that is not stored yet: Save stores it and
// gives it its id.
func (st *SQLiteStore) New(r *http.Request, name string) (*sessions.Session, error) {
	return st.cookies.newSession(st, name), nil
}

// Get returns the session named by the request's cookie, or a new one when
// there is no cookie or it names no live session. It is one SELECT, and an
// UPDATE only when the idle deadline is due to be pushed out.
func (st *SQLiteStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s := st.cookies.newSession(st, name)
	id, ok := st.cookies.readID(r, name)
	if !ok {
		return s, nil
	}
	ctx, now := r.Context(), st.now()
	var user, data string // user "": anonymous (NULL)
	var created, lastSeen, idle, absolute int64
	err := st.db.QueryRowContext(ctx, `SELECT coalesce(user, ''), data, created_at, last_seen, idle_expires_at, absolute_expires_at FROM sessions WHERE id_hash = ?`,
		idHash(id)).Scan(&user, &data, &created, &lastSeen, &idle, &absolute)
	// Each deadline is the earlier of the one the session was issued with
	// and the one today's -idle-timeout and -max-lifetime give: a restart
	// with shorter timeouts shortens old sessions, never lengthens them.
	// (UserSessions works them out the same way, in its SQL.)
	idle, absolute = min(idle, lastSeen+st.life.idleTimeout.Milliseconds()), min(absolute, created+st.life.maxLifetime.Milliseconds())
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, failed(ctx, st.logger, "read session", err)
	}
	// No row (never issued, deleted or swept: its deadlines stay 0), expired
	// (the sweeper deletes it later), or values that do not decode (such as
	// the JSON of an earlier version of this step): no session, never an
	// error page, and the id is not adopted.
	values, err := decodeValues([]byte(data))
	if err != nil || now.UnixMilli() >= min(idle, absolute) {
		return s, nil
	}
	if user != "" {
		values[userKey] = user
	}

	// HEAD changes nothing, not even the idle deadline.
	if r.Method != http.MethodHead && now.UnixMilli()-lastSeen >= st.life.touchEvery.Milliseconds() {
		if err := st.touch(ctx, idHash(id), now); err != nil {
			return s, err
		}
		idle, lastSeen = now.UnixMilli()+idle-lastSeen, now.UnixMilli() // as touch does
	}
	s.ID, s.Values, s.IsNew = id, values, false
	setTimes(s, time.UnixMilli(created), time.UnixMilli(min(idle, absolute)))
	return s, nil
}

// touch pushes the idle deadline out, if the session still exists and has
// not expired meanwhile. It only ever updates: a session deleted since the
// SELECT stays deleted. The idle timeout is the one the session was issued
// with (idle_expires_at - last_seen), or the current flag's when shorter: a
// restart never lengthens it.
func (st *SQLiteStore) touch(ctx context.Context, key []byte, now time.Time) error {
	_, err := st.db.ExecContext(ctx,
		`UPDATE sessions SET last_seen = ?1, idle_expires_at = ?1 + min(?2, idle_expires_at - last_seen)
		WHERE id_hash = ?3 AND last_seen < ?1 AND idle_expires_at > ?1 AND absolute_expires_at > ?1`,
		now.UnixMilli(), st.life.idleTimeout.Milliseconds(), key)
	return failed(ctx, st.logger, "touch session", err)
}

// Save stores the session and, for a new one, sets the cookie. A new
// anonymous session past maxAnonymous is not stored and gets no cookie: the
// visitor stays anonymous, and nobody signed in is affected.
func (st *SQLiteStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	ctx := r.Context()
	if s.Options.MaxAge < 0 {
		if err := st.delete(ctx, s.ID); err != nil {
			return err
		}
		st.cookies.expire(w, s)
		return nil
	}
	// The user has a column of its own (for "my sessions" and for "sign out
	// everywhere"); the other values go in data.
	user, _ := s.Values[userKey].(string) // "": anonymous, NULL in the column
	data, err := encodeValues(s.Values)
	if err != nil {
		return err
	}
	now := st.now()

	if s.ID != "" {
		// Update only, and only a live session: if a logout deleted it (or it
		// expired) since this request read it, it stays gone. The deadlines
		// are left as they are: the Get that read the session pushed them
		// out if it was time (touch).
		_, err := st.db.ExecContext(ctx, `UPDATE sessions SET user = nullif(?1, ''), data = ?2
			WHERE id_hash = ?3 AND idle_expires_at > ?4 AND absolute_expires_at > ?4`, user, data, idHash(s.ID), now.UnixMilli())
		return failed(ctx, st.logger, "update session", err)
	}

	id := rand.Text() // 26 base32 characters: 128 bits from crypto/rand
	agent := strings.ToValidUTF8(r.UserAgent()[:min(len(r.UserAgent()), maxUserAgent)], "\uFFFD")
	// The bound and the insert are one statement, so that two visitors
	// cannot both take the last place. The count reads only the index of
	// anonymous sessions (migrations/002_anonymous_sessions.sql).
	res, err := st.db.ExecContext(ctx,
		`INSERT INTO sessions (id_hash, user, data, created_at, last_seen, idle_expires_at, absolute_expires_at, user_agent)
		SELECT ?1, nullif(?2, ''), ?3, ?4, ?4, ?5, ?6, ?7
		WHERE ?2 <> '' OR (SELECT count(*) FROM sessions WHERE user IS NULL) < ?8`,
		idHash(id), user, data, now.UnixMilli(),
		now.Add(st.life.idleTimeout).UnixMilli(), now.Add(st.life.maxLifetime).UnixMilli(), agent, st.maxAnonymous)
	if err != nil {
		return failed(ctx, st.logger, "insert session", err)
	}
	if n, _ := res.RowsAffected(); n == 0 { // go-sqlite3's RowsAffected never fails
		return nil // an anonymous session past the bound: not stored, no cookie
	}
	// The cookie only once the row is there: a failed insert sets no cookie.
	if err := st.cookies.write(w, s, id); err != nil {
		return err
	}
	s.ID, s.IsNew = id, false
	setTimes(s, now, st.life.expiresAt(now, now))
	return nil
}

// RenewID deletes the session and forgets its id; see sessionStore.
func (st *SQLiteStore) RenewID(r *http.Request, s *sessions.Session) error {
	id := s.ID
	s.ID = "" // Save then stores the session under a new id
	return st.delete(r.Context(), id)
}

func (st *SQLiteStore) delete(ctx context.Context, id string) error {
	if id == "" {
		return nil // never stored: nothing to delete, and nothing that can fail
	}
	_, err := st.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash(id))
	return failed(ctx, st.logger, "delete session", err)
}

// UserSessions lists the live sessions of user, the current one (currentID's)
// first, then the most recently used. Times are in UTC, to the second, as
// /sessions shows them.
func (st *SQLiteStore) UserSessions(ctx context.Context, user, currentID string) ([]sessionInfo, error) {
	// Expired ones are left out: the sweeper deletes them.
	rows, err := st.db.QueryContext(ctx, `SELECT lower(hex(id_hash)), id_hash = ?4, user_agent, created_at / 1000, last_seen / 1000 FROM sessions
		WHERE user = ?1 AND min(idle_expires_at, last_seen + ?2, absolute_expires_at, created_at + ?3) > ?5 ORDER BY id_hash = ?4 DESC, last_seen DESC, created_at DESC`,
		user, st.life.idleTimeout.Milliseconds(), st.life.maxLifetime.Milliseconds(), idHash(currentID), st.now().UnixMilli())
	if err != nil {
		return nil, failed(ctx, st.logger, "list sessions", err)
	}
	defer rows.Close()
	list := []sessionInfo{}
	for rows.Next() {
		var info sessionInfo
		var created, lastSeen int64 // in seconds
		if err := rows.Scan(&info.Handle, &info.Current, &info.UserAgent, &created, &lastSeen); err != nil {
			return nil, failed(ctx, st.logger, "list sessions", err)
		}
		info.Created, info.LastSeen = time.Unix(created, 0).UTC(), time.Unix(lastSeen, 0).UTC()
		list = append(list, info)
	}
	return list, failed(ctx, st.logger, "list sessions", rows.Err())
}

// DeleteUserSession deletes the session of user whose handle is handle, in
// one statement that checks whose it is.
func (st *SQLiteStore) DeleteUserSession(ctx context.Context, user, handle string) (bool, error) {
	// unhex of what is not hex is NULL, which no row has.
	res, err := st.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = unhex(?) AND user = ?`, handle, user)
	if err != nil {
		return false, failed(ctx, st.logger, "delete a session of the user", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// DeleteUserSessions deletes every session of user except the one whose id is
// exceptID ("" is no session's id: then it deletes them all).
func (st *SQLiteStore) DeleteUserSessions(ctx context.Context, user, exceptID string) error {
	_, err := st.db.ExecContext(ctx, `DELETE FROM sessions WHERE user = ? AND id_hash <> ?`, user, idHash(exceptID))
	return failed(ctx, st.logger, "delete the user's sessions", err)
}

// ChangePassword: see sessionStore. Users and sessions share the database,
// so one transaction does both.
func (st *SQLiteStore) ChangePassword(ctx context.Context, user string, oldHash, newHash []byte, keepID string) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return failed(ctx, st.logger, "change password", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	res, err := tx.ExecContext(ctx, `UPDATE users SET hash = ? WHERE name = ? AND hash = ?`, newHash, user, oldHash)
	if err != nil {
		return failed(ctx, st.logger, "change password", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errPasswordChanged
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user = ? AND id_hash <> ?`, user, idHash(keepID)); err != nil {
		return failed(ctx, st.logger, "change password", err)
	}
	return failed(ctx, st.logger, "change password", tx.Commit())
}

// Sweep deletes the sessions whose stored deadlines have passed by now. Get
// never serves them anyway; sweeping gives the space back.
func (st *SQLiteStore) Sweep(ctx context.Context, now time.Time) error {
	_, err := st.db.ExecContext(ctx,
		`DELETE FROM sessions WHERE idle_expires_at <= ?1 OR absolute_expires_at <= ?1`, now.UnixMilli())
	return failed(ctx, st.logger, "sweep sessions", err)
}

// RunSweeper sweeps every interval until ctx is done.
func (st *SQLiteStore) RunSweeper(ctx context.Context, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
			st.Sweep(ctx, st.now()) // failed logs the error
		}
	}
}
