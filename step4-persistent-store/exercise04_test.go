//go:build exercise

package main

import (
	"crypto/rand"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Exercise 04 (EXERCISES.md): /me also answers "last_login_at", when the
// user signed in before this session began (RFC 3339), or null when this
// session's sign-in is the first one known. Signup is a sign-in; a failed
// login is not. The time is kept in the database, so it outlives a restart.
func TestExercise04_MeSaysLastLogin(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	first := startServer(t, env, "-db", db)

	laptop := newClient(t, first)
	var r response
	signup := during(func() { r = laptop.signup("alice", "wonderland") })
	wantStatus(t, r, http.StatusCreated)
	wantNoLastLogin(t, laptop, "POST /signup as alice (her first sign-in)")

	nextSecond() // each sign-in in a second of its own: /me shows whole seconds
	phone := newClient(t, first)
	phoneLogin := during(func() { r = phone.login("alice", "wonderland") })
	wantStatus(t, r, http.StatusOK)
	wantLastLogin(t, phone, "POST /signup as alice, then POST /login as alice from a phone", signup, "the signup's, the sign-in before this one")
	wantNoLastLogin(t, laptop, "POST /signup as alice, POST /login from a phone, then GET /me from the laptop again (the signup's session)")

	nextSecond()
	wantStatus(t, newClient(t, first).login("alice", "not-wonderland"), http.StatusUnauthorized)
	must0(t, first.stop())
	second := startServer(t, env, "-db", db)
	tablet := newClient(t, second)
	wantStatus(t, tablet.login("alice", "wonderland"), http.StatusOK)
	wantLastLogin(t, tablet, "POST /login as alice from a phone, a login with a wrong password, a restart of the server (same -db), then POST /login from a tablet",
		phoneLogin, "the phone's: kept in the database across the restart, and a failed login is no sign-in")
}

// Exercise 04 (EXERCISES.md), the point of versioned schemas: a database
// that the step as shipped made (schema version 1, alice signed up and still
// signed in) is brought up to date when the new server starts on it. Nobody
// is lost and nobody signed out, and last_login_at works from then on.
func TestExercise04_OldDatabaseIsMigrated(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	const created = 1767268800000 // 2026-01-01T12:00:00Z, in Unix ms
	oldCookie := makeShippedDB(t, db, "alice", "wonderland", created)

	first := startServer(t, env, "-db", db)
	old := newClient(t, first)
	old.setSessionCookie(oldCookie)
	if got := old.whoami(); got != "alice" {
		t.Fatalf("sent: GET /me with the cookie of a session that alice began on the step as shipped (a schema-version-1 file), to the new server started on that file\ngot:  /me says %q\nwant: alice: an upgrade signs nobody out", got)
	}
	c := newClient(t, first)
	var r response
	firstLogin := during(func() { r = c.login("alice", "wonderland") })
	if r.StatusCode != http.StatusOK {
		t.Fatalf("sent: POST /login as alice, who signed up on the step as shipped (a schema-version-1 file), to the new server started on that file\ngot:  %d %s\nwant: 200: at start, migrations/ brings an old file up to date (a new migrations/003_….sql; an edit of 001_init.sql never runs on a file at version 1)", r.StatusCode, strings.TrimSpace(r.Body))
	}
	wantNoLastLogin(t, c, "POST /login as alice, her first sign-in since the upgrade (the old schema kept no such time)")
	must0(t, first.stop())

	conn := must(sql.Open("sqlite3", dsn(db, url.Values{"_query_only": {"on"}})))
	var version int
	var createdAt int64
	must0(t, conn.QueryRow(`PRAGMA user_version`).Scan(&version))
	must0(t, conn.QueryRow(`SELECT created_at FROM users WHERE name = 'alice'`).Scan(&createdAt))
	if version < 3 || createdAt != created {
		t.Errorf("sent: the new server started on a schema-version-1 file, then stopped\ngot:  PRAGMA user_version = %d; alice's created_at %d\nwant: version 3 or more (a new migration ran: 002 ships with the step), and alice's row as it was (created_at %d)", version, createdAt, created)
	}
	conn.Close()

	second := startServer(t, env, "-db", db)
	again := newClient(t, second)
	wantStatus(t, again.login("alice", "wonderland"), http.StatusOK)
	wantLastLogin(t, again, "POST /login as alice after the upgrade, a restart (same -db), POST /login again", firstLogin, "the first login's after the upgrade")
}

// shippedSchema is migrations/001_init.sql as the step ships it (comments
// left out): the schema of every database that the step as shipped has made.
// A migration that has shipped is never edited: files at its version would
// never see the change.
const shippedSchema = `
CREATE TABLE users (
    name       TEXT PRIMARY KEY NOT NULL CHECK (name = lower(name)),
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    id_hash             BLOB PRIMARY KEY NOT NULL CHECK (length(id_hash) = 32),
    user                TEXT REFERENCES users (name) ON DELETE CASCADE,
    data                TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    user_agent          TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user) WHERE user IS NOT NULL;
CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
`

// makeShippedDB makes at path what the step as shipped leaves behind after
// "start the server (SESSION_SECRET=testSecret), sign up, stop": a file at
// schema version 1, with the user's row and their signup session, written
// as the step's CreateUser and SQLiteStore.Save write them. It returns the
// session's cookie. The test cannot run the shipped code itself: once the
// exercise is solved, this package is the new code.
func makeShippedDB(t *testing.T, path, user, password string, created int64) string {
	t.Helper()
	conn := must(sql.Open("sqlite3", dsn(path, url.Values{"_journal_mode": {"WAL"}, "_foreign_keys": {"on"}, "_txlock": {"immediate"}})))
	defer conn.Close()
	must0(t, migrate(t.Context(), conn, fstest.MapFS{"migrations/001_init.sql": {Data: []byte(shippedSchema)}}))
	hash := must(bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost))
	must(conn.Exec(`INSERT INTO users (name, hash, created_at) VALUES (?, ?, ?)`, user, hash, created))

	id, now := rand.Text(), time.Now()
	data := must(encodeValues(map[any]any{})) // the signup's session has no values but its user
	must(conn.Exec(`INSERT INTO sessions (id_hash, user, data, created_at, last_seen, idle_expires_at, absolute_expires_at, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'Old/1.0')`, idHash(id), user, data, now.UnixMilli(), now.UnixMilli(),
		now.Add(30*time.Minute).UnixMilli(), now.Add(24*time.Hour).UnixMilli()))
	sc := newSessionCookies([][]byte{must(decodeBase64(testSecret))}, true, 24*time.Hour)
	rec := httptest.NewRecorder()
	sc.write(rec, sc.newSession(nil, cookieName), id)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == sessionCookieName {
			return ck.Value
		}
	}
	t.Fatal("makeShippedDB: no session cookie was written")
	return ""
}

// span is when something happened, as /me can tell: in whole seconds.
type span struct{ from, to time.Time }

func during(f func()) span {
	from := time.Now()
	f()
	return span{from.Truncate(time.Second), time.Now()}
}

// nextSecond waits for the next second of the clock, so that what happens
// after it cannot be mistaken, in whole seconds, for what happened before.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

// meLastLogin is the "last_login_at" of c's /me: ok false for null.
func meLastLogin(t *testing.T, c *client, sent string) (at time.Time, ok bool) {
	t.Helper()
	r := c.get("/me")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("sent: %s, then GET /me\ngot:  %d %s\nwant: 200", sent, r.StatusCode, strings.TrimSpace(r.Body))
	}
	v, found := r.json(t)["last_login_at"]
	if !found {
		t.Fatalf("sent: %s, then GET /me\ngot:  %s\nwant: the same fields plus \"last_login_at\": when alice signed in before this session began, or null", sent, strings.TrimSpace(r.Body))
	}
	if v == nil {
		return time.Time{}, false
	}
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("sent: %s, then GET /me\ngot:  %s\nwant: \"last_login_at\" in RFC 3339, like created_at, or null", sent, strings.TrimSpace(r.Body))
	}
	return at, true
}

func wantNoLastLogin(t *testing.T, c *client, sent string) {
	t.Helper()
	if at, ok := meLastLogin(t, c, sent); ok {
		t.Errorf("sent: %s, then GET /me\ngot:  \"last_login_at\": %q\nwant: null: no sign-in is known before this session's", sent, at.UTC().Format(time.RFC3339))
	}
}

func wantLastLogin(t *testing.T, c *client, sent string, w span, which string) {
	t.Helper()
	at, ok := meLastLogin(t, c, sent)
	if !ok || at.Before(w.from) || at.After(w.to) {
		got := "null"
		if ok {
			got = at.UTC().Format(time.RFC3339)
		}
		t.Errorf("sent: %s, then GET /me\ngot:  \"last_login_at\": %s\nwant: a time from %s to %s: %s", sent, got, w.from.UTC().Format(time.RFC3339), w.to.UTC().Format(time.RFC3339), which)
	}
}
