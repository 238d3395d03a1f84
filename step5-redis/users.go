package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"regexp"
	"time"
)

var (
	errUserExists = errors.New("username is taken")
	// errPasswordChanged: the hash was no longer the one the caller checked.
	errPasswordChanged = errors.New("the password has changed meanwhile")
)

// userStore is where users live: in the SQLite file from step 4 on.
// Names are folded (foldUsername) before they get here.
type userStore interface {
	CreateUser(ctx context.Context, name string, hash []byte) error // errUserExists when taken
	FindUser(ctx context.Context, name string) ([]byte, error)      // the user's hash; nil: no such user
	// SetPassword replaces the password hash of a user if it is still
	// oldHash, the one the caller checked: errPasswordChanged if not.
	SetPassword(ctx context.Context, name string, oldHash, newHash []byte) error
}

// sqliteUsers keeps the users in the SQLite file, one row each: the folded
// name (the key, so two users cannot differ only by case), the bcrypt hash
// and when they signed up.
type sqliteUsers struct {
	db     *database
	logger *slog.Logger
}

func newSQLiteUsers(db *database, logger *slog.Logger) *sqliteUsers {
	return &sqliteUsers{db: db, logger: logger}
}

// CreateUser stores a new user. The database decides whether the name is
// free, in one INSERT: two sign-ups racing for a name cannot both get it.
func (u *sqliteUsers) CreateUser(ctx context.Context, name string, hash []byte) error {
	res, err := u.db.ExecContext(ctx,
		`INSERT INTO users (name, hash, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, hash, time.Now().UnixMilli())
	if err != nil {
		return failed(ctx, u.logger, "create user", err)
	}
	if n, _ := res.RowsAffected(); n == 0 { // go-sqlite3's RowsAffected never fails
		return errUserExists // the name was there already
	}
	return nil
}

func (u *sqliteUsers) FindUser(ctx context.Context, name string) ([]byte, error) {
	var hash []byte
	err := u.db.QueryRowContext(ctx, `SELECT hash FROM users WHERE name = ?`, name).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // no such user
	}
	return hash, failed(ctx, u.logger, "find user", err)
}

// SetPassword checks and writes in one UPDATE: two changes racing cannot
// both find the old hash.
func (u *sqliteUsers) SetPassword(ctx context.Context, name string, oldHash, newHash []byte) error {
	res, err := u.db.ExecContext(ctx, `UPDATE users SET hash = ? WHERE name = ? AND hash = ?`, newHash, name, oldHash)
	if err != nil {
		return failed(ctx, u.logger, "set password", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errPasswordChanged
	}
	return nil
}

// foldUsername makes "Alice" and "alice" one user. Only ASCII letters fold:
// strings.ToLower would also fold, say, the Kelvin sign "K" into "k", so
// that a look-alike name could reach someone else's account.
func foldUsername(name string) string {
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// maxPasswordBytes is bcrypt's limit: it reads no further. A longer
// password is refused, never cut: two passwords that share their first 72
// bytes must not both open the same account.
const maxPasswordBytes = 72

// validUsername is what a (folded) username may be: 3 to 32 of a-z, 0-9,
// '.', '_' and '-'. Nothing else, so that no two names look alike.
var validUsername = regexp.MustCompile(`^[a-z0-9._-]{3,32}$`)

// validate says why a new account is refused, each broken rule on a line of
// its own (so that one try tells them all), or nil. A password counts in
// bytes, as bcrypt counts: "é" is 2 bytes, most emoji 4.
func validate(username, password string) error {
	var broken []error
	if !validUsername.MatchString(username) {
		broken = append(broken, errors.New("username must be 3 to 32 characters, each a-z, 0-9, '.', '_' or '-'"))
	}
	if len(password) < 8 || len(password) > maxPasswordBytes {
		broken = append(broken, errors.New("password must be 8 to 72 bytes long (bcrypt reads no more; accented letters take 2 bytes, emoji 4)"))
	}
	return errors.Join(broken...)
}
