package main

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gorilla/securecookie"
)

// minSecretBytes is the shortest SESSION_SECRET accepted: 256 bits.
const minSecretBytes = 32

// sessionSecrets reads SESSION_SECRET: one or more comma-separated base64
// secrets of at least 32 bytes. The first signs new cookies and all of them
// verify, so a secret can be rotated without signing everybody out: put the
// new one first, keep the old one after it until its cookies have expired.
//
// Unset, a random secret is made on first start and kept in the database,
// next to the users, so that a restart keeps everyone signed in. Whoever can
// read the file then has the secret too, but no session: the sessions are in
// Redis, which holds only hashes of the ids, and the secret cannot turn a
// hash into an id.
func sessionSecrets(ctx context.Context, getenv func(string) string, db *database, logger *slog.Logger) ([][]byte, error) {
	value := strings.TrimSpace(getenv("SESSION_SECRET"))
	if value == "" {
		secret := make([]byte, minSecretBytes)
		rand.Read(secret) // never fails: see crypto/rand.Read
		// Stored as it is unless one is there already, which is then the one
		// used (a secret this code made, so it needs no checks): two
		// processes starting at once agree on one secret.
		err := db.QueryRowContext(ctx, `INSERT INTO settings (name, value) VALUES ('session_secret', ?)
			ON CONFLICT (name) DO UPDATE SET value = value RETURNING value`, secret).Scan(&secret)
		if err != nil {
			return nil, fmt.Errorf("database %s: session secret: %w", db.path, err)
		}
		logger.Warn("SESSION_SECRET is not set: using the secret stored in the database (made on the first start)")
		return [][]byte{secret}, nil
	}
	var secrets [][]byte
	for i, part := range strings.Split(value, ",") {
		secret, err := decodeBase64(strings.TrimSpace(part))
		if err != nil {
			// The error says which secret, never what it holds.
			return nil, fmt.Errorf("SESSION_SECRET: secret %d is not base64", i+1)
		}
		if len(secret) < minSecretBytes {
			return nil, fmt.Errorf("SESSION_SECRET: secret %d is %d bytes, want at least %d (try: openssl rand -base64 32)", i+1, len(secret), minSecretBytes)
		}
		secrets = append(secrets, secret)
	}
	return secrets, nil
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s) // URL-safe to standard
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// cookieCodecs turns the secrets into securecookie codecs, first one first.
// Each secret is stretched with HKDF into a key for one purpose only, so the
// same secret is never used twice for two different things: this key signs
// (nobody can change the cookie). The id has nothing to hide, so nothing is
// encrypted.
func cookieCodecs(secrets [][]byte) []securecookie.Codec {
	var codecs []securecookie.Codec
	for _, secret := range secrets {
		hashKey := deriveKey(secret, "session cookie signing key")
		sc := securecookie.New(hashKey, nil)        // HMAC-SHA256 signs, nothing encrypts
		sc.SetSerializer(securecookie.NopEncoder{}) // the value is the id's bytes, as they are
		sc.MaxAge(0)                                // the store keeps the deadlines, not the cookie
		codecs = append(codecs, sc)
	}
	return codecs
}

// deriveKey stretches secret with HKDF-SHA256 into a 32-byte key for purpose.
func deriveKey(secret []byte, purpose string) []byte {
	// hkdf.Key fails only for a key longer than 255 hashes, or (in FIPS
	// 140-only mode) a secret under 14 bytes: neither can happen here.
	key, _ := hkdf.Key(sha256.New, secret, nil, purpose, 32)
	return key
}
