package main

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/mattn/go-sqlite3" // registers the "sqlite3" driver for database/sql
)

// migrations are the schema, one file per version: 001_init.sql makes
// version 1 (users, their sessions, and the app's settings),
// 002_anonymous_sessions.sql turns version 1 into 2 (an index of the
// anonymous sessions, which the store counts), and so on. A session's row is
// keyed by the SHA-256 of its id, never the id itself: whoever reads the
// file cannot sign anybody in with it. Times are Unix milliseconds
// (INTEGER), so that they compare and sort as numbers; in the sqlite3 shell,
// datetime(t / 1000, 'unixepoch') shows one.
//
//go:embed migrations/*.sql
var migrations embed.FS

// database is the app's SQLite file: one database/sql pool, and the file's
// absolute path for messages.
type database struct {
	*sql.DB
	path string
}

// openDB opens (creating it if needed) the database file at path and brings
// its schema up to date.
func openDB(ctx context.Context, path string) (*database, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	// go-sqlite3 runs these PRAGMAs on every new connection.
	pool, err := sql.Open("sqlite3", dsn(abs, url.Values{
		// WAL: readers do not wait for the writer, nor the writer for them.
		// SQLite still lets one connection write at a time.
		"_journal_mode": {"WAL"},
		// A connection that finds another one writing waits up to 5 s (in
		// milliseconds) for its turn instead of failing with "database is
		// locked".
		"_busy_timeout": {"5000"},
		"_foreign_keys": {"on"}, // off by default in SQLite, for old files' sake
		// BEGIN takes the write lock at once: a transaction that reads, then
		// writes, never has to upgrade its lock, which SQLite answers with
		// "database is locked" at once, busy timeout or not.
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", abs, err)
	}
	if err := migrate(ctx, pool, migrations); err != nil {
		pool.Close()
		if sqliteErr := (sqlite3.Error{}); errors.As(err, &sqliteErr) && sqliteErr.Code == sqlite3.ErrNotADB {
			err = errors.New("the file is not a SQLite database: move it away, or pass -db with another file")
		}
		return nil, fmt.Errorf("database %s: %w", abs, err)
	}
	return &database{DB: pool, path: abs}, nil
}

// dsn is a file: URI for go-sqlite3: the path, escaped (a '?' or '%' in it
// is part of the name), and the parameters. The path starts with one slash
// (C:/x becomes file:///C:/x on Windows).
func dsn(absPath string, params url.Values) string {
	path := "/" + strings.TrimPrefix(filepath.ToSlash(absPath), "/")
	return (&url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}).String()
}

// Ping checks that the database can be written: it takes the write lock and
// gives it back (BEGIN IMMEDIATE, ROLLBACK: nothing is written). A file that
// another process keeps locked fails here as signups and logins would.
func (db *database) Ping(ctx context.Context) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("database %s: %w", db.path, err)
	}
	return tx.Rollback()
}

// migrate brings the schema to the newest version in fsys, in one
// transaction: PRAGMA user_version holds the version a file is at (0 for a
// new file), and each migration NNN_name.sql takes it from NNN-1 to NNN. A
// crash halfway leaves the file at its old version, ready to try again.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS) error {
	// Sorted by name: 001_, 002_... (Glob fails only on a bad pattern.)
	files, _ := fs.Glob(fsys, "migrations/*.sql")
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: no other process migrates meanwhile
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version, tables int
	if err := tx.QueryRowContext(ctx, "SELECT user_version, (SELECT count(*) FROM sqlite_master) FROM pragma_user_version").Scan(&version, &tables); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	// A file this step cannot use is left as it is, with advice: most often it
	// is another step's (step 5 migrates a step-4 file further) or another
	// program's.
	if version > len(files) {
		return fmt.Errorf("schema version %d is newer than this step knows (%d): the file was made by a later step or a newer build; move it away, or pass -db with another file", version, len(files))
	}
	if version == 0 && tables > 0 {
		return errors.New("a SQLite file that this step did not make (it has tables but no schema version): move it away, or pass -db with another file")
	}
	for i, name := range files[version:] {
		script, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		// The script, then the version it brings the file to (PRAGMA takes
		// no parameters; the number is ours, not input).
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("%s;\nPRAGMA user_version = %d;", script, version+i+1)); err != nil {
			return fmt.Errorf("migrate: %s: %w", name, err)
		}
	}
	return tx.Commit()
}

// failed logs a failure of a store (the database; Redis in step 5), once,
// where it happens, and returns it with context; the handlers then answer 503
// without logging it again. Nothing logged names a session: queries and
// commands carry only hashes of ids, and neither SQLite's nor go-redis'
// errors repeat the values sent. No error (nil) is no failure: failed
// returns nil.
func failed(ctx context.Context, logger *slog.Logger, what string, err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(ctx.Err(), context.Canceled) { // a request whose client left is no failure of ours
		logger.Error(what, "err", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
