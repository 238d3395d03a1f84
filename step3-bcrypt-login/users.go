package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// user is an account. Only a bcrypt hash of its password is kept: whoever
// reads the users (a backup, a leak) still has to guess every password.
type user struct {
	Hash []byte
}

var (
	errUserExists = errors.New("username is taken")
	errNoUser     = errors.New("no such user")
	// errPasswordChanged: the hash was no longer the one the caller checked.
	errPasswordChanged = errors.New("the password has changed meanwhile")
)

// userStore is where users live: memory in step 3, SQLite from step 4.
// Names are folded (foldUsername) before they get here.
type userStore interface {
	CreateUser(ctx context.Context, name string, hash []byte) error // errUserExists when taken
	FindUser(ctx context.Context, name string) (user, error)        // errNoUser when unknown
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

func newMemoryUsers() *memoryUsers { return &memoryUsers{} }

func (m *memoryUsers) CreateUser(ctx context.Context, name string, hash []byte) error {
	if _, taken := m.hashes.LoadOrStore(name, string(hash)); taken {
		return errUserExists
	}
	return nil
}

func (m *memoryUsers) FindUser(ctx context.Context, name string) (user, error) {
	hash, ok := m.hashes.Load(name)
	if !ok {
		return user{}, errNoUser
	}
	return user{Hash: []byte(hash.(string))}, nil
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

// The rules for new accounts.
const (
	minUsername      = 3
	maxUsername      = 32
	minPasswordBytes = 8
	// maxPasswordBytes is bcrypt's limit: it reads no further. A longer
	// password is refused, never cut: two passwords that share their first
	// 72 bytes must not both open the same account.
	maxPasswordBytes = 72
)

// validateUsername says which rule a (folded) username breaks, or nil.
func validateUsername(name string) error {
	switch {
	case len(name) < minUsername:
		return fmt.Errorf("username must be at least %d characters", minUsername)
	case len(name) > maxUsername:
		return fmt.Errorf("username must be at most %d characters", maxUsername)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errors.New("username may contain only letters a-z, digits 0-9, '.', '_' and '-'")
		}
	}
	return nil
}

// validatePassword says which rule a password breaks, or nil. The limits are
// in bytes, as bcrypt counts: "é" is 2 bytes, most emoji 4.
func validatePassword(password string) error {
	switch {
	case len(password) < minPasswordBytes:
		return fmt.Errorf("password must be at least %d bytes long", minPasswordBytes)
	case len(password) > maxPasswordBytes:
		return fmt.Errorf("password must be at most %d bytes long (bcrypt's limit; accented letters take 2 bytes, emoji 4)", maxPasswordBytes)
	}
	return nil
}
