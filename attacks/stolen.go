package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gorilla/securecookie"
	"github.com/redis/go-redis/v9"
)

// stolenData: the attacker gets a copy of the data: a backup of the SQLite
// file, a stolen disk, read access to Redis. Worse, steps 4 and 5 keep the
// signing secret in that same file when SESSION_SECRET is unset (the lab
// leaves it unset here), so the attacker can sign any value they like. They
// take every session key they find, sign it, and send it as a cookie. The
// stores keep only the SHA-256 of each session id, and a hash is no id.
func stolenData(c *cell) verdict {
	srv := c.startServer(serverOptions{noSecret: true})
	c.signIn(srv, c.victim(srv)) // the victim's session is in the store
	mine := c.signIn(srv, c.attacker(srv)).cookies[sessionCookie]

	dbFile := filepath.Join(srv.dir, fmt.Sprintf("step%d.db", srv.step))
	secret, hashes := c.stealSQLite(dbFile)
	source := ""
	if srv.step == 5 {
		hashes = c.stealRedis()
		source = " from Redis"
	}
	// The secret is the real one: it verifies the attacker's own cookie. So
	// a failure below is the hashing's doing, not a wrong key's.
	if _, err := cookieID(secret, mine); err != nil {
		c.fatalf("the secret from the SQLite file does not verify the attacker's own cookie (%v): the lab's copy of the cookie format is out of date", err)
	}
	tries := 0
	for _, h := range hashes {
		hexID := hex.EncodeToString(h)
		// The key as it is, and signed as if it were an id, in both its forms.
		for _, cookie := range []string{hexID, signID(secret, hexID), signID(secret, string(h))} {
			thief := c.visitor(srv)
			thief.cookies[sessionCookie] = cookie
			tries++
			if user, status := thief.me(); status == http.StatusOK {
				return works("a session key%s, as it is or signed with the secret from the SQLite file, signs in as %s", source, user)
			}
		}
	}
	if len(hashes) < 2 {
		c.fatalf("%s held %d session keys, want at least the victim's and the attacker's", source, len(hashes))
	}
	return stopped("%d session keys%s and the signing secret from the SQLite file (it verifies the attacker's own cookie): /me said 401 to each of the %d cookies made of them",
		len(hashes), source, tries)
}

// stealSQLite copies a step's database (with its write-ahead log) as a
// thief would, and reads the session secret and the sessions' keys.
func (c *cell) stealSQLite(path string) (secret []byte, hashes [][]byte) {
	copyDir := c.tempDir()
	stolen := filepath.Join(copyDir, filepath.Base(path))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := copyFile(path+suffix, stolen+suffix); err != nil && !(suffix != "" && os.IsNotExist(err)) {
			c.fatalf("copy %s: %v", path+suffix, err)
		}
	}
	db, err := sql.Open("sqlite3", "file:"+stolen)
	if err != nil {
		c.fatalf("open the stolen %s: %v", filepath.Base(path), err)
	}
	defer db.Close()
	// The steps keep the secret's bytes as they are (secret.go).
	if err := db.QueryRow(`SELECT value FROM settings WHERE name = 'session_secret'`).Scan(&secret); err != nil {
		c.fatalf("read the session secret from the stolen file: %v", err)
	}
	if c.step == 5 {
		return secret, nil // step 5 keeps its sessions in Redis
	}
	rows, err := db.Query(`SELECT id_hash FROM sessions`)
	if err != nil {
		c.fatalf("read the sessions from the stolen file: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			c.fatalf("read a session from the stolen file: %v", err)
		}
		hashes = append(hashes, h)
	}
	if err := rows.Err(); err != nil {
		c.fatalf("read the sessions from the stolen file: %v", err)
	}
	return secret, hashes
}

// stealRedis lists the session keys in Redis, as anyone who can reach it
// (redis-cli --scan, a backup, a replica) can.
func (c *cell) stealRedis() (hashes [][]byte) {
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", c.redis().port)})
	defer rdb.Close()
	prefix := c.redisPrefix() + "session:"
	iter := rdb.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		key := iter.Val() // <prefix>session:<hash>, or <prefix>session:{<tag>}:<hash>
		h, err := hex.DecodeString(key[strings.LastIndex(key, ":")+1:])
		if err != nil {
			c.fatalf("a session key in Redis is not hex: %v", err)
		}
		hashes = append(hashes, h)
	}
	if err := iter.Err(); err != nil {
		c.fatalf("scan Redis: %v", err)
	}
	return hashes
}

// cookieCodec signs session cookies as steps 2-5 do (cookieCodecs in their
// secret.go): HMAC-SHA256 under a key stretched from the secret with HKDF,
// the id's bytes as they are.
func cookieCodec(secret []byte) *securecookie.SecureCookie {
	key, err := hkdf.Key(sha256.New, secret, nil, "session cookie signing key", 32)
	if err != nil {
		panic(err) // only for a key length SHA-256 cannot give
	}
	sc := securecookie.New(key, nil)
	sc.SetSerializer(securecookie.NopEncoder{})
	sc.MaxAge(0)
	return sc
}

// signID makes the session cookie that carries id.
func signID(secret []byte, id string) string {
	v, err := cookieCodec(secret).Encode(sessionCookie, []byte(id))
	if err != nil {
		return ""
	}
	return v
}

// cookieID returns the id a session cookie carries, when secret signed it.
func cookieID(secret []byte, cookie string) (string, error) {
	var id []byte
	err := cookieCodec(secret).Decode(sessionCookie, cookie, &id)
	return string(id), err
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
