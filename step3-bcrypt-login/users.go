package main

import (
	"context"
	"errors"
	"regexp"
	"sync"
)

var (
	errUserExists = errors.New("username is taken")
	// errPasswordChanged: the hash was no longer the one the caller checked.
	errPasswordChanged = errors.New("the password has changed meanwhile")
)

// userStore is where users live: memory in step 3, SQLite from step 4. A
// user is a name, folded (foldUsername) before it gets here, and a bcrypt
// hash of the password: only the hash is kept, so whoever reads the users
// (a backup, a leak) still has to guess every password.
type userStore interface {
	CreateUser(ctx context.Context, name string, hash []byte) error // errUserExists when taken
	FindUser(ctx context.Context, name string) []byte               // the user's hash; nil: no such user
	// SetPassword replaces the password hash of a user if it is still
	// oldHash, the one the caller checked: errPasswordChanged if not.
	SetPassword(ctx context.Context, name string, oldHash, newHash []byte) error
}

// memoryUsers keeps users in memory: a hash (as a string) per folded name,
// in a sync.Map, whose LoadOrStore and CompareAndSwap are exactly what the
// store promises: create unless taken, change the hash only if it is still
// the one the caller checked.
//
// Its weakness is step 4's subject: it is memory, so a restart forgets every
// account (and every session).
type memoryUsers struct {
	hashes sync.Map // folded name -> string(hash)
}

func (m *memoryUsers) CreateUser(ctx context.Context, name string, hash []byte) error {
	if _, taken := m.hashes.LoadOrStore(name, string(hash)); taken {
		return errUserExists
	}
	return nil
}

func (m *memoryUsers) FindUser(ctx context.Context, name string) []byte {
	if hash, ok := m.hashes.Load(name); ok {
		return []byte(hash.(string))
	}
	return nil // no such user
}

func (m *memoryUsers) SetPassword(ctx context.Context, name string, oldHash, newHash []byte) error {
	if !m.hashes.CompareAndSwap(name, string(oldHash), string(newHash)) {
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
