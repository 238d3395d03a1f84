package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// Tests of the SQLite parts on their own: a real file in t.TempDir().

func TestMigrateNewFileAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db := openTestDB(t, path)
	if v := userVersion(t, db.DB); v != 2 {
		t.Fatalf("a new file is at schema version %d, want 2", v)
	}
	var mode string
	must0(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	for pragma, want := range map[string]int{"foreign_keys": 1, "busy_timeout": 5000} {
		var got int
		must0(t, db.QueryRow("PRAGMA "+pragma).Scan(&got))
		if got != want {
			t.Errorf("writer: PRAGMA %s = %d, want %d", pragma, got, want)
		}
	}
	users := newSQLiteUsers(db, slog.New(slog.DiscardHandler))
	must0(t, users.CreateUser(t.Context(), "alice", []byte("hash")))
	db.Close()

	// Opening it again migrates nothing and keeps the data.
	again := openTestDB(t, path)
	if v := userVersion(t, again.DB); v != 2 {
		t.Fatalf("reopened file is at schema version %d, want 2", v)
	}
	if _, err := newSQLiteUsers(again, slog.New(slog.DiscardHandler)).FindUser(t.Context(), "alice"); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

// A later migration turns an old file into a new one and keeps its rows; a
// migration that fails leaves the file as it was.
func TestMigrateOldFile(t *testing.T) {
	v1 := fstest.MapFS{
		"migrations/001_init.sql": {Data: []byte(`CREATE TABLE notes (body TEXT NOT NULL);`)},
	}
	v2 := fstest.MapFS{
		"migrations/001_init.sql":    v1["migrations/001_init.sql"],
		"migrations/002_authors.sql": {Data: []byte(`ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'unknown'; CREATE INDEX notes_by_author ON notes (author);`)},
	}
	broken := fstest.MapFS{
		"migrations/001_init.sql":    v1["migrations/001_init.sql"],
		"migrations/002_authors.sql": v2["migrations/002_authors.sql"],
		"migrations/003_broken.sql":  {Data: []byte(`CREATE TABLE later (x); THIS IS NOT SQL;`)},
	}
	// A file of its own, without the app's schema.
	write, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "old.db"), url.Values{"_txlock": {"immediate"}}))
	must0(t, err)
	defer write.Close()

	must0(t, migrate(t.Context(), write, v1))
	must(write.Exec(`INSERT INTO notes (body) VALUES ('kept across migrations')`))
	must0(t, migrate(t.Context(), write, v2))
	if v := userVersion(t, write); v != 2 {
		t.Fatalf("after 002: schema version %d, want 2", v)
	}
	var body, author string
	must0(t, write.QueryRow(`SELECT body, author FROM notes`).Scan(&body, &author))
	if body != "kept across migrations" || author != "unknown" {
		t.Fatalf("after 002 the row is %q by %q", body, author)
	}
	must0(t, migrate(t.Context(), write, v2)) // again: nothing to do

	if err := migrate(t.Context(), write, broken); err == nil || !strings.Contains(err.Error(), "003_broken.sql") {
		t.Fatalf("a broken migration returned %v, want an error naming it", err)
	}
	if v := userVersion(t, write); v != 2 {
		t.Fatalf("after a failed migration: schema version %d, want 2", v)
	}
	var n int
	must0(t, write.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'later'`).Scan(&n))
	if n != 0 {
		t.Fatal("a failed migration left half its changes")
	}

	// A file from a newer program is refused, not damaged.
	if err := migrate(t.Context(), write, v1); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("migrating a version-2 file with 1 migration returned %v, want an error", err)
	}
}

// previous002 is migrations/002_anonymous_sessions.sql as an earlier version
// of this step shipped it (comments left out): a count of the anonymous
// sessions, kept by triggers. Every file that version made is at schema
// version 2 with these in it, and never runs today's 002.
const previous002 = `
CREATE TABLE sessions_count (
    anonymous INTEGER NOT NULL
);
INSERT INTO sessions_count (anonymous) SELECT count(*) FROM sessions WHERE user IS NULL;
CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions WHEN NEW.user IS NULL
BEGIN
    UPDATE sessions_count SET anonymous = anonymous + 1;
END;
CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions WHEN OLD.user IS NULL
BEGIN
    UPDATE sessions_count SET anonymous = anonymous - 1;
END;
CREATE TRIGGER sessions_count_update AFTER UPDATE OF user ON sessions
WHEN (OLD.user IS NULL) <> (NEW.user IS NULL)
BEGIN
    UPDATE sessions_count SET anonymous = anonymous + (NEW.user IS NULL) - (OLD.user IS NULL);
END;
`

// A file made by the earlier version of this step (version 2, with the
// triggers of its 002) opens as it is: its sessions are still served, the
// bound on anonymous sessions counts the old ones too, and logout and the
// sweeper work. A session whose values that version wrote as JSON reads as
// no session (its user signs in once more), never as an error.
func TestOpenFileOfPreviousVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	conn := must(sql.Open("sqlite3", dsn(path, url.Values{"_journal_mode": {"WAL"}, "_foreign_keys": {"on"}, "_txlock": {"immediate"}})))
	must0(t, migrate(t.Context(), conn, fstest.MapFS{
		"migrations/001_init.sql":               {Data: must(fs.ReadFile(migrations, "migrations/001_init.sql"))},
		"migrations/002_anonymous_sessions.sql": {Data: []byte(previous002)},
	}))
	now := time.Now()
	must(conn.Exec(`INSERT INTO users (name, hash, created_at) VALUES ('alice', 'hash', ?)`, now.UnixMilli()))
	aliceID, anonymousID, jsonID := rand.Text(), rand.Text(), rand.Text()
	gobVisits := must(encodeValues(map[any]any{visitsKey: 3}))
	for id, row := range map[string][2]any{aliceID: {"alice", gobVisits}, anonymousID: {nil, gobVisits}, jsonID: {"alice", `{"visits":3}`}} {
		must(conn.Exec(`INSERT INTO sessions (id_hash, user, data, created_at, last_seen, idle_expires_at, absolute_expires_at)
			VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)`, idHash(id), row[0], row[1],
			now.UnixMilli(), now.Add(time.Hour).UnixMilli(), now.Add(24*time.Hour).UnixMilli()))
	}
	must0(t, conn.Close())

	db := openTestDB(t, path)
	if v := userVersion(t, db.DB); v != 2 {
		t.Fatalf("a file of the previous version is at schema version %d once opened, want 2", v)
	}
	st := NewSQLiteStore(db, newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, 24*time.Hour), newLifetimes(time.Hour, 24*time.Hour),
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	st.maxAnonymous = 3
	cookieOf := func(id string) *http.Cookie {
		w := httptest.NewRecorder()
		must0(t, st.cookies.write(w, st.cookies.newSession(st, cookieName), id))
		return w.Result().Cookies()[0]
	}
	alice := cookieOf(aliceID)
	if s := must(st.Get(requestWith(alice), cookieName)); s.IsNew || s.Values[userKey] != "alice" || s.Values[visitsKey] != 3 {
		t.Fatalf("alice's session from the previous version: new=%v, values %v; want alice, visits 3", s.IsNew, s.Values)
	}
	if s, err := st.Get(requestWith(cookieOf(jsonID)), cookieName); err != nil || !s.IsNew {
		t.Fatalf("a session with JSON values: new=%v, err %v; want a new session and no error", s.IsNew, err)
	}
	// One anonymous session is there already: two more fit under the bound of 3.
	for i := range 3 {
		r := requestWith(nil)
		s := must(st.New(r, cookieName))
		s.Values[visitsKey] = 1
		w := httptest.NewRecorder()
		must0(t, st.Save(r, w, s))
		if stored := len(w.Result().Cookies()) == 1; stored != (i < 2) {
			t.Fatalf("new anonymous session %d next to one from the previous version: stored %v, want the first two only", i+1, stored)
		}
	}
	must0(t, st.RenewID(requestWith(alice), must(st.Get(requestWith(alice), cookieName))))
	if s := must(st.Get(requestWith(alice), cookieName)); !s.IsNew {
		t.Fatal("alice's session survived its deletion")
	}
	// The sweeper deletes the 3 anonymous ones and the JSON one.
	must0(t, st.Sweep(t.Context(), now.Add(25*time.Hour)))
	if n := countSessions(t, st); n != 0 {
		t.Fatalf("%d sessions left after the sweep", n)
	}
}

// A path is a path, whatever characters it holds: none of them is taken for
// a URI's query or escape.
func TestOpenDBOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with=odd&chars%20#x")
	must0(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "app.db")
	db := openTestDB(t, path)
	must0(t, newSQLiteUsers(db, slog.New(slog.DiscardHandler)).CreateUser(t.Context(), "alice", []byte("hash")))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at %q: %v", path, err)
	}
}

func TestOpenDBErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	must0(t, os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 100), 0o600))
	for name, path := range map[string]string{
		"not a database":   notDB,
		"missing folder":   filepath.Join(dir, "no", "such", "folder", "app.db"),
		"folder, not file": dir,
	} {
		db, err := openDB(t.Context(), path)
		if err == nil {
			db.Close()
			t.Errorf("%s: openDB succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), "database "+filepath.Clean(path)) && !strings.Contains(err.Error(), "database "+path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

// The database and its -wal file never hold a session id or a cookie: only
// the SHA-256 of the id.
func TestFilesHoldNoToken(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	st.now = time.Now
	var ids, cookies []string
	for i := range 20 {
		ck := newSession(t, st, map[any]any{userKey: "alice", visitsKey: i})
		cookies = append(cookies, ck.Value)
		s := must(st.Get(requestWith(ck), cookieName))
		if s.IsNew {
			t.Fatal("a new session is not found")
		}
		ids = append(ids, s.ID)
	}
	files := readDBFiles(t, st.db.path)
	for i, id := range ids {
		for _, needle := range []string{id, strings.ToLower(id), cookies[i], base64.StdEncoding.EncodeToString([]byte(id)), base64.URLEncoding.EncodeToString([]byte(id))} {
			if bytes.Contains(files, []byte(needle)) {
				t.Fatalf("the database files contain session %d's id or cookie (%q...)", i, needle[:8])
			}
		}
		if !bytes.Contains(files, idHash(id)) {
			t.Fatalf("the files do not contain the hash of session %d either: is this the right file?", i)
		}
	}
}

// A data file the step cannot use (a later step's or a newer build's schema,
// another program's tables, or no SQLite file at all) stops it with a message
// that says what the file is and what to do, and nothing is migrated.
func TestOpenDBFileOfAnotherKind(t *testing.T) {
	dir := t.TempDir()
	later := filepath.Join(dir, "later.db")
	db := openTestDB(t, later)
	must(db.Exec(`PRAGMA user_version = 99`))
	must0(t, db.Close())
	foreign := filepath.Join(dir, "foreign.db")
	other, err := sql.Open("sqlite3", dsn(foreign, nil))
	must0(t, err)
	must(other.Exec(`CREATE TABLE notes (body TEXT)`))
	must0(t, other.Close())
	notDB := filepath.Join(dir, "notes.txt")
	must0(t, os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 100), 0o600))

	for path, want := range map[string]string{
		later:   "made by a later step",
		foreign: "did not make",
		notDB:   "not a SQLite database",
	} {
		db, err := openDB(t.Context(), path)
		if err == nil {
			db.Close()
			t.Errorf("%s: openDB succeeded", path)
			continue
		}
		for _, want := range []string{path, want, "move it away, or pass -db"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", filepath.Base(path), err, want)
			}
		}
	}
	// Nothing was migrated: the foreign file has only its own table.
	other, err = sql.Open("sqlite3", dsn(foreign, nil))
	must0(t, err)
	defer other.Close()
	var tables string
	must0(t, other.QueryRow(`SELECT group_concat(name) FROM sqlite_master`).Scan(&tables))
	if tables != "notes" {
		t.Errorf("the foreign file now holds %s", tables)
	}
}

// readDBFiles is the database file and its -wal and -shm, as a reader of the
// disk would see them.
func readDBFiles(t testing.TB, path string) []byte {
	t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// A read that finds the session due for a touch after a logout deleted it
// does not bring it back: touch updates, never inserts.
func TestTouchNeverResurrects(t *testing.T) {
	st, clock := newTestStore(t, 30*time.Minute, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	clock.advance(2 * time.Minute) // the next read touches
	s := must(st.Get(requestWith(ck), cookieName))
	must0(t, st.RenewID(requestWith(ck), must(st.Get(requestWith(ck), cookieName))))
	must0(t, st.touch(t.Context(), idHash(s.ID), clock.t.Add(time.Minute)))
	if n := countSessions(t, st); n != 0 {
		t.Fatalf("a touch after the delete left %d sessions", n)
	}
}

// Save of an existing session that has expired meanwhile does not extend it.
func TestSaveDoesNotReviveExpired(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	ck := newSession(t, st, nil)
	s := must(st.Get(requestWith(ck), cookieName))
	clock.advance(11 * time.Minute) // idle past its deadline while the request ran
	s.Values[visitsKey] = 2
	must0(t, st.Save(requestWith(ck), httptest.NewRecorder(), s))
	if got := must(st.Get(requestWith(ck), cookieName)); !got.IsNew {
		t.Fatal("a save after the idle deadline brought the session back")
	}
}

// Values round-trip through the database: an int stays an int, the user
// comes from its own column.
func TestValuesRoundTrip(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice", visitsKey: 41})
	s := must(st.Get(requestWith(ck), cookieName))
	if v, ok := s.Values[visitsKey].(int); !ok || v != 41 {
		t.Fatalf("visits = %#v, want int 41", s.Values[visitsKey])
	}
	if u, ok := s.Values[userKey].(string); !ok || u != "alice" {
		t.Fatalf("user = %#v, want alice", s.Values[userKey])
	}
	var user string
	must0(t, st.db.QueryRow(`SELECT user FROM sessions WHERE id_hash = ?`, idHash(s.ID)).Scan(&user))
	if user != "alice" {
		t.Fatalf("user column = %q", user)
	}
	// Signing out the user in the values (not the session) clears the column.
	delete(s.Values, userKey)
	must0(t, st.Save(requestWith(ck), httptest.NewRecorder(), s))
	if got := must(st.Get(requestWith(ck), cookieName)); got.Values[userKey] != nil || got.Values[visitsKey] != 41 {
		t.Fatalf("after saving without a user: %v", got.Values)
	}
}

// The data column gives back exactly what was stored, and what it could not
// give back is refused at Save.
func TestValuesEncoding(t *testing.T) {
	in := map[any]any{"visits": 41, "name": "x", "ok": true, "none": nil}
	data := must(encodeValues(in))
	out := must(decodeValues(data))
	if len(out) != len(in) {
		t.Fatalf("%s decoded to %v", data, out)
	}
	for k, v := range in {
		if out[k] != v {
			t.Errorf("%q: %#v came back as %#v", k, v, out[k])
		}
	}
	for _, bad := range []map[any]any{{"t": time.Now()}, {"m": map[string]int{}}} {
		if _, err := encodeValues(bad); err == nil {
			t.Errorf("encodeValues(%v) did not refuse it", bad)
		}
	}
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	r := requestWith(nil)
	s := must(st.New(r, cookieName))
	s.Values["when"] = time.Now()
	if err := st.Save(r, httptest.NewRecorder(), s); err == nil {
		t.Error("Save stored a value that would not come back as it went in")
	}
}

// A restart with a shorter -idle-timeout or -max-lifetime shortens the
// sessions issued before: the earlier deadline wins, for Get as for the
// list of a user's sessions, which leaves out the ones that have ended.
func TestShorterFlagsShortenASession(t *testing.T) {
	st, clock := newTestStore(t, time.Hour, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	restarted := NewSQLiteStore(st.db, st.cookies, newLifetimes(10*time.Minute, 20*time.Minute), st.logger)
	restarted.now = clock.now
	if _, exp := sessionTimes(must(restarted.Get(requestWith(ck), cookieName))); !exp.Equal(clock.t.Add(10 * time.Minute)) {
		t.Fatalf("with -idle-timeout 10m, expires_at = %v, want now + 10m", exp)
	}
	clock.advance(9 * time.Minute)
	must(restarted.Get(requestWith(ck), cookieName))
	clock.advance(9 * time.Minute)
	if _, exp := sessionTimes(must(restarted.Get(requestWith(ck), cookieName))); !exp.Equal(clock.t.Add(2 * time.Minute)) {
		t.Fatalf("with -max-lifetime 20m, expires_at = %v, want 20m after sign-in", exp)
	}
	clock.advance(3 * time.Minute)
	if s := must(restarted.Get(requestWith(ck), cookieName)); !s.IsNew {
		t.Fatal("the session outlived the shorter -max-lifetime")
	}
	if list := must(restarted.UserSessions(t.Context(), "alice", "")); len(list) != 0 {
		t.Fatalf("the list holds %d sessions that ended by the shorter flags, want none", len(list))
	}
	if list := must(st.UserSessions(t.Context(), "alice", "")); len(list) != 1 {
		t.Fatalf("with the old flags the list holds %d sessions, want the one still live by them", len(list))
	}
}

func TestUserSessionsAndDeleteUserSessions(t *testing.T) {
	st, clock := newTestStore(t, time.Hour, 24*time.Hour)
	must0(t, newSQLiteUsers(st.db, st.logger).CreateUser(t.Context(), "bob", []byte("hash")))
	login := func(user, agent string) *http.Cookie {
		r := httptest.NewRequest("POST", "/login", nil)
		r.Header.Set("User-Agent", agent)
		s := must(st.New(r, cookieName))
		s.Values[userKey] = user
		w := httptest.NewRecorder()
		must0(t, st.Save(r, w, s))
		clock.advance(time.Second)
		return w.Result().Cookies()[0]
	}
	laptop := login("alice", "Laptop/1.0")
	phone := login("alice", "Phone/2.0")
	bobs := login("bob", "Bob/1.0")
	newSession(t, st, map[any]any{visitsKey: 1}) // anonymous

	current := must(st.Get(requestWith(phone), cookieName))
	list := must(st.UserSessions(t.Context(), "alice", current.ID))
	if len(list) != 2 {
		t.Fatalf("alice has %d sessions listed, want 2: %+v", len(list), list)
	}
	if list[0].UserAgent != "Phone/2.0" || !list[0].Current || list[1].UserAgent != "Laptop/1.0" || list[1].Current {
		t.Fatalf("list = %+v, want the phone (current) then the laptop", list)
	}
	if list[1].Created.IsZero() || list[1].LastSeen.Before(list[1].Created) {
		t.Fatalf("times of a listed session: %+v", list[1])
	}

	// One, by its handle: only the user's own.
	laptopHandle := sessionHandle(must(st.Get(requestWith(laptop), cookieName)).ID)
	if list[1].Handle != laptopHandle || list[0].Handle != sessionHandle(current.ID) {
		t.Fatalf("handles %q, %q: want the sessions' (%q, %q)", list[0].Handle, list[1].Handle, sessionHandle(current.ID), laptopHandle)
	}
	bobsHandle := sessionHandle(must(st.Get(requestWith(bobs), cookieName)).ID)
	if found := must(st.DeleteUserSession(t.Context(), "alice", bobsHandle)); found {
		t.Fatal("alice deleted bob's session by its handle")
	}
	if found := must(st.DeleteUserSession(t.Context(), "alice", laptopHandle)); !found {
		t.Fatal("DeleteUserSession did not find the laptop's session")
	}
	if s := must(st.Get(requestWith(laptop), cookieName)); !s.IsNew {
		t.Fatal("the laptop's session survived DeleteUserSession")
	}
	if found := must(st.DeleteUserSession(t.Context(), "alice", laptopHandle)); found {
		t.Fatal("DeleteUserSession found a session it had deleted")
	}

	// Everything but the current one.
	must0(t, st.DeleteUserSessions(t.Context(), "alice", current.ID))
	if s := must(st.Get(requestWith(laptop), cookieName)); !s.IsNew {
		t.Fatal("the laptop's session survived DeleteUserSessions")
	}
	if s := must(st.Get(requestWith(phone), cookieName)); s.IsNew {
		t.Fatal("DeleteUserSessions deleted the session it was told to keep")
	}
	// Everything.
	must0(t, st.DeleteUserSessions(t.Context(), "alice", ""))
	if s := must(st.Get(requestWith(phone), cookieName)); !s.IsNew {
		t.Fatal("the current session survived DeleteUserSessions(\"\")")
	}
	if s := must(st.Get(requestWith(bobs), cookieName)); s.IsNew {
		t.Fatal("deleting alice's sessions deleted bob's")
	}
	if n := countSessions(t, st); n != 2 {
		t.Fatalf("%d sessions left, want bob's and the anonymous one", n)
	}
}

func TestSQLiteUsers(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	users := newSQLiteUsers(db, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	must0(t, users.CreateUser(ctx, "alice", []byte("hash-1")))
	if err := users.CreateUser(ctx, "alice", []byte("hash-2")); !errors.Is(err, errUserExists) {
		t.Errorf("CreateUser(alice) again: %v, want errUserExists", err)
	}
	hash, err := users.FindUser(ctx, "alice")
	if err != nil || string(hash) != "hash-1" {
		t.Fatalf("FindUser = %q, %v", hash, err)
	}
	if hash, err := users.FindUser(ctx, "mallory"); hash != nil || err != nil {
		t.Errorf("FindUser(unknown) = %q, %v, want no hash and no error", hash, err)
	}
	must0(t, users.SetPassword(ctx, "alice", []byte("hash-1"), []byte("hash-3")))
	if hash := must(users.FindUser(ctx, "alice")); string(hash) != "hash-3" {
		t.Errorf("after SetPassword the hash is %q", hash)
	}
	// Only over the hash the caller checked: a second change from hash-1 loses.
	if err := users.SetPassword(ctx, "alice", []byte("hash-1"), []byte("hash-4")); !errors.Is(err, errPasswordChanged) {
		t.Errorf("SetPassword over a hash that is gone = %v, want errPasswordChanged", err)
	}
	if hash := must(users.FindUser(ctx, "alice")); string(hash) != "hash-3" {
		t.Errorf("a SetPassword that lost wrote the hash %q", hash)
	}
	if err := users.SetPassword(ctx, "mallory", []byte("x"), []byte("y")); !errors.Is(err, errPasswordChanged) {
		t.Errorf("SetPassword(unknown) = %v, want errPasswordChanged", err)
	}
}

// Two sign-ups racing for one name: exactly one wins.
func TestCreateUserRace(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	users := newSQLiteUsers(db, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, taken := 0, 0
	for range 20 {
		wg.Go(func() {
			err := users.CreateUser(t.Context(), "carol", []byte("hash"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, errUserExists):
				taken++
			default:
				t.Errorf("CreateUser: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || taken != 19 {
		t.Fatalf("%d sign-ups won and %d were told the name is taken, want 1 and 19", wins, taken)
	}
}

// Without SESSION_SECRET the secret is made once and kept in the database;
// with it, the environment wins.
func TestSecretKeptInDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	noEnv := func(string) string { return "" }
	db := openTestDB(t, path)
	first := must(sessionSecrets(t.Context(), noEnv, db, logger))
	db.Close()
	db = openTestDB(t, path)
	second := must(sessionSecrets(t.Context(), noEnv, db, logger))
	if len(first) != 1 || len(first[0]) < minSecretBytes || !bytes.Equal(first[0], second[0]) {
		t.Fatal("the secret made on first start is not the one used on the second")
	}
	if n := strings.Count(logs.String(), "using the secret stored in the database"); n != 2 {
		t.Errorf("want a warning at each start, got %d:\n%s", n, logs)
	}
	env := must(sessionSecrets(t.Context(), func(string) string { return testSecret }, db, logger))
	if !bytes.Equal(env[0], must(decodeBase64(testSecret))) {
		t.Fatal("SESSION_SECRET did not win over the stored secret")
	}
	if strings.Contains(logs.String(), base64.StdEncoding.EncodeToString(first[0])) {
		t.Fatal("the log holds the secret")
	}
}

// When the database fails, the store says so (handlers then answer 503),
// logs it once, and never names the session in the log.
func TestStoreErrors(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	logs := &syncBuffer{}
	st.logger = slog.New(slog.NewTextHandler(logs, nil))
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	s := must(st.Get(requestWith(ck), cookieName))
	st.db.Close()

	if _, err := st.Get(requestWith(ck), cookieName); err == nil {
		t.Error("Get on a closed database returned no error")
	}
	if err := st.Save(requestWith(ck), httptest.NewRecorder(), s); err == nil {
		t.Error("Save on a closed database returned no error")
	}
	w := httptest.NewRecorder()
	if err := st.Save(requestWith(nil), w, must(st.New(requestWith(nil), cookieName))); err == nil || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("Save of a new session on a closed database: %v, Set-Cookie %q; want an error and no cookie", err, w.Header().Get("Set-Cookie"))
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 3 {
		t.Errorf("%d error lines for 3 failures:\n%s", n, logs)
	}
	for _, secret := range []string{ck.Value, s.ID, hex.EncodeToString(idHash(s.ID))} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log names the session:\n%s", logs)
		}
	}
	if err := st.db.Ping(t.Context()); err == nil {
		t.Error("Ping on a closed database returned no error")
	}
}

// Many goroutines create, read, update, renew and delete sessions at once,
// on one file: no error (no "database is locked"), no mixing.
func TestStoreConcurrency(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	st.now = time.Now
	st.life.touchEvery = 0 // every read also writes: the worst case
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			ck := newSession(t, st, map[any]any{visitsKey: 0})
			for i := 1; i <= 20; i++ {
				s, err := st.Get(requestWith(ck), cookieName)
				if err != nil {
					t.Errorf("goroutine %d: Get: %v", g, err)
					return
				}
				if s.IsNew || s.Values[visitsKey] != i-1 {
					t.Errorf("goroutine %d: read %v (new=%v), want visits %d", g, s.Values[visitsKey], s.IsNew, i-1)
					return
				}
				s.Values[visitsKey] = i
				if i%7 == 0 { // now and then a new id, as at login
					if err := st.RenewID(requestWith(ck), s); err != nil {
						t.Errorf("goroutine %d: RenewID: %v", g, err)
						return
					}
				}
				w := httptest.NewRecorder()
				if err := st.Save(requestWith(ck), w, s); err != nil {
					t.Errorf("goroutine %d: Save: %v", g, err)
					return
				}
				if c := w.Result().Cookies(); len(c) == 1 {
					ck = c[0]
				}
			}
			if err := st.Sweep(t.Context(), time.Now()); err != nil {
				t.Errorf("goroutine %d: Sweep: %v", g, err)
			}
		})
	}
	wg.Wait()
	if n := countSessions(t, st); n != 32 {
		t.Errorf("%d sessions left, want 32 (one per goroutine)", n)
	}
}

func TestRunSweeperStopsWithContext(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { st.RunSweeper(ctx, time.Millisecond); close(done) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunSweeper did not stop when its context was cancelled")
	}
}

func userVersion(t testing.TB, db *sql.DB) int {
	t.Helper()
	var v int
	must0(t, db.QueryRow("PRAGMA user_version").Scan(&v))
	return v
}

func must0(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("unexpected error: %w", err))
	}
}
