package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// Tests of the SQLite parts on their own: a real file in t.TempDir().

func TestMigrateNewFileAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db := openTestDB(t, path)
	if v := userVersion(t, db.DB); v != 3 {
		t.Fatalf("a new file is at schema version %d, want 3", v)
	}
	var mode string
	must0(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	for pragma, want := range map[string]int{"foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1} {
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
	if v := userVersion(t, again.DB); v != 3 {
		t.Fatalf("reopened file is at schema version %d, want 3", v)
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

// previous002 is step 4's migrations/002_anonymous_sessions.sql as an
// earlier version of that step shipped it (comments left out): a count of
// the anonymous sessions, kept by triggers. Step-4 files made by it are at
// schema version 2 with these in it.
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

// A step-4 file, with its users and sessions, opened by this step: the
// sessions table and its indexes (and an earlier step 4's count and
// triggers) go, since sessions live in Redis now; the users stay.
func TestMigrateStep4File(t *testing.T) {
	for version, migration002 := range map[string][]byte{
		"today's step 4":    must(fs.ReadFile(migrations, "migrations/002_anonymous_sessions.sql")),
		"an earlier step 4": []byte(previous002),
	} {
		path := filepath.Join(t.TempDir(), "app.db")
		step4 := fstest.MapFS{
			"migrations/001_init.sql":               {Data: must(fs.ReadFile(migrations, "migrations/001_init.sql"))},
			"migrations/002_anonymous_sessions.sql": {Data: migration002},
		}
		write, err := sql.Open("sqlite3", dsn(path, url.Values{"_txlock": {"immediate"}, "_foreign_keys": {"on"}}))
		must0(t, err)
		must0(t, migrate(t.Context(), write, step4))
		must(write.Exec(`INSERT INTO users (name, hash, created_at) VALUES ('alice', 'hash', 0)`))
		must(write.Exec(`INSERT INTO sessions (id_hash, user, data, created_at, last_seen, idle_expires_at, absolute_expires_at)
			VALUES (zeroblob(32), 'alice', '{}', 0, 0, 0, 0), (randomblob(32), NULL, '{}', 0, 0, 0, 0)`))
		must0(t, write.Close())

		db := openTestDB(t, path)
		if v := userVersion(t, db.DB); v != 3 {
			t.Fatalf("a file of %s is at schema version %d once opened, want 3", version, v)
		}
		var left string
		must0(t, db.QueryRow(`SELECT coalesce(group_concat(name), '') FROM sqlite_master WHERE name LIKE 'sessions%'`).Scan(&left))
		if left != "" {
			t.Fatalf("a file of %s: the sessions' %s are left", version, left)
		}
		if _, err := newSQLiteUsers(db, slog.New(slog.DiscardHandler)).FindUser(t.Context(), "alice"); err != nil {
			t.Fatalf("a file of %s: its user is gone: %v", version, err)
		}
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
