package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
)

// RedisStore is a gorilla/sessions Store that keeps sessions in Redis, where
// every instance of the app finds them; see sessionStore for what it
// guarantees.
//
// Each session is one hash, named by the SHA-256 of the session id: the id
// itself is stored nowhere, so whoever reads Redis (a backup, MONITOR, a
// replica) signs nobody in with what they see. Its TTL is the time left until
// the session ends, so Redis deletes it then: there is no sweeper. A sorted
// set per user lists the user's sessions:
//
//	<prefix>session:<sha256(id)>          an anonymous session: a hash of
//	                                       user (""), data, created, seen,
//	                                       idle, absolute, ua; TTL: its end
//	<prefix>session:{<tag>}:<sha256(id)>  a signed-in session: the same
//	<prefix>user:{<tag>}:<name>           the sha256(id) of each of the
//	                                       user's sessions, oldest first
//	<prefix>anonymous                     new anonymous sessions in this
//	                                       idle-timeout window
//
// A signed-in session's id starts with its user's tag (userTag), as in
// "<tag>.<26 random characters>", and Redis Cluster places a key by the part
// in {braces}: a user's sessions and set share one slot, so one script can
// write them together on any topology. A session is created and listed at
// once, and "sign out everywhere" deletes every listed session at once: no
// session exists that its user's set does not list, and a read is one
// HGETALL.
//
// Every Redis error is returned, and the handlers answer 503: while Redis is
// unreachable nobody is signed in, and nobody is taken for an anonymous
// visitor either.
type RedisStore struct {
	client       redis.UniversalClient
	prefix       string // of every key, so that several apps can share one Redis
	cookies      sessionCookies
	life         lifetimes
	maxAnonymous int              // new anonymous sessions per idle-timeout window; tests set less
	now          func() time.Time // replaced in tests
	logger       *slog.Logger
}

// NewRedisStore returns a store in client, whose keys begin with prefix,
// whose session cookies are cookies, and whose sessions last as life says.
func NewRedisStore(client redis.UniversalClient, prefix string, cookies sessionCookies, life lifetimes, logger *slog.Logger) *RedisStore {
	return &RedisStore{client: client, prefix: prefix, cookies: cookies, life: life, maxAnonymous: defaultMaxAnonymous, now: time.Now, logger: logger}
}

// idHash is how Redis knows a session: the SHA-256 of its id, in hex. A
// plain, fast hash is enough: the id is 128 random bits, so there is nothing
// to guess, and no salt or slow hash (as for passwords) is needed.
func idHash(id string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(id))) }

// sessionHandle is the handle of a session (see sessionInfo): the hash in
// its key's name.
func sessionHandle(id string) string { return idHash(id) }

// userTag is the tag of a user's keys: 4 hex digits of the SHA-256 of the
// name. It places the keys (see RedisStore), and need not be unique: users
// who share a tag share a slot, nothing else. It tells the cookie's holder
// next to nothing about the name, and that holder can ask /me anyway.
func userTag(user string) string { return idHash(user)[:4] }

// sessionKey names the hash of the session whose id is id: in its user's
// slot when the id starts with a tag, anywhere when it is anonymous.
func (st *RedisStore) sessionKey(id string) string {
	if tag, _, signedIn := strings.Cut(id, "."); signedIn {
		return st.prefix + "session:{" + tag + "}:" + idHash(id)
	}
	return st.prefix + "session:" + idHash(id)
}

// userSessionKey names the hash of the session of user whose handle is
// handle; with "", what the names of all the user's sessions start with.
func (st *RedisStore) userSessionKey(user, handle string) string {
	return st.prefix + "session:{" + userTag(user) + "}:" + handle
}

func (st *RedisStore) userSetKey(user string) string {
	return st.prefix + "user:{" + userTag(user) + "}:" + user
}

// maxUserAgent bounds what a client can make the store keep.
const maxUserAgent = 256

// sessionRow is a session's hash. Times are Unix milliseconds.
type sessionRow struct {
	User      string `redis:"user"` // "" when anonymous; the other values are in data
	Data      string `redis:"data"`
	Created   int64  `redis:"created"`
	LastSeen  int64  `redis:"seen"`
	Idle      int64  `redis:"idle"`     // the idle deadline, pushed out by use
	Absolute  int64  `redis:"absolute"` // the absolute deadline, as issued
	UserAgent string `redis:"ua"`
}

// expiresAt is the session's real deadline: the earliest of the deadlines
// stored with it and of the ones today's -idle-timeout and -max-lifetime
// give. A restart with shorter timeouts shortens old sessions; a restart
// with longer ones never lengthens them.
func (row sessionRow) expiresAt(life lifetimes) time.Time {
	return time.UnixMilli(min(row.Idle, row.Absolute,
		row.LastSeen+life.idleTimeout.Milliseconds(), row.Created+life.maxLifetime.Milliseconds()))
}

// New returns a new, empty session that is not stored yet: Save stores it and
// gives it its id.
func (st *RedisStore) New(r *http.Request, name string) (*sessions.Session, error) {
	return st.cookies.newSession(st, name), nil
}

// Get returns the session named by the request's cookie, or a new one when
// there is no cookie or it names no live session. It is one HGETALL, and a
// write only when the idle deadline is due to be pushed out. When Redis
// fails it returns the error, and the handlers answer 503: nobody is taken
// for anonymous by mistake.
func (st *RedisStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s := st.cookies.newSession(st, name)
	id, ok := st.cookies.readID(r, name)
	if !ok {
		return s, nil
	}
	ctx, now, key := r.Context(), st.now(), st.sessionKey(id)
	var row sessionRow
	if err := st.client.HGetAll(ctx, key).Scan(&row); err != nil {
		return s, failed(ctx, st.logger, "read session", err)
	}
	// Never issued, deleted or expired (no hash: no data, which does not
	// decode), or undecodable: not adopted. Redis deletes a session at its
	// end; the check of the end covers the moment around it and a restart
	// with shorter flags. Nor is a signed-in session outside its user's
	// slot, which no set lists.
	values, err := decodeValues([]byte(row.Data))
	if err != nil || !now.Before(row.expiresAt(st.life)) || row.User != "" && !strings.HasPrefix(id, userTag(row.User)+".") {
		return s, nil
	}
	if row.User != "" {
		values[userKey] = row.User
	}

	// HEAD changes nothing, not even the idle deadline.
	// The idle timeout is the one the session was issued with (idle - seen),
	// or the current flag's when shorter: a restart never lengthens it.
	if r.Method != http.MethodHead && now.UnixMilli()-row.LastSeen >= st.life.touchEvery.Milliseconds() {
		row.Idle = now.UnixMilli() + min(st.life.idleTimeout.Milliseconds(), row.Idle-row.LastSeen)
		row.LastSeen = now.UnixMilli()
		ttl := row.expiresAt(st.life).Sub(now).Milliseconds()
		if err := updateScript.Run(ctx, st.client, []string{key}, ttl, "seen", row.LastSeen, "idle", row.Idle).Err(); err != nil {
			return s, failed(ctx, st.logger, "touch session", err)
		}
	}
	s.ID, s.Values, s.IsNew = id, values, false
	setTimes(s, time.UnixMilli(row.Created), row.expiresAt(st.life))
	return s, nil
}

// A write that must check before it writes is a Lua script: Redis runs a
// script whole, with no other command in between, so that no logout on
// another instance can fall between the check and the write. Each touches
// the keys of one Cluster slot only.

// updateScript writes fields of the session at KEYS[1], if it is there, and
// sets its TTL to ARGV[1] ms unless that is 0 (then it keeps its TTL); then
// field, value... It only ever updates: a session deleted or expired since
// it was read stays deleted.
var updateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
if ARGV[1] == '0' then return 1 end
return redis.call('PEXPIRE', KEYS[1], ARGV[1])`)

// Save stores the session and, for a new one, sets the cookie. A new
// anonymous session past maxAnonymous is not stored and gets no cookie: the
// visitor stays anonymous, and nobody signed in is affected.
func (st *RedisStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	ctx := r.Context()
	if s.Options != nil && s.Options.MaxAge < 0 {
		if err := st.delete(ctx, s.ID); err != nil {
			return err
		}
		st.cookies.expire(w, s)
		return nil
	}
	// The user has a field of its own (for the user's set); the other values
	// go in data.
	user, _ := s.Values[userKey].(string)
	data, err := encodeValues(s.Values)
	if err != nil {
		return err
	}
	now := st.now()

	if s.ID != "" {
		// Update only: if a logout deleted it (or it expired) since this
		// request read it, it stays gone. The user is written at creation
		// only: a session changes hands only under a new id (the handlers
		// call RenewID first), which puts it in its user's slot.
		// The deadlines are left as they are: the Get that read the session
		// pushed them out if it was time.
		return failed(ctx, st.logger, "update session", updateScript.Run(ctx, st.client, []string{st.sessionKey(s.ID)}, 0, "data", data).Err())
	}

	// Anonymous sessions are bounded: past maxAnonymous new ones in an idle
	// timeout, a visitor without a session gets none (the page still
	// answers). A flood of cookieless requests thus leaves at most
	// 2 x maxAnonymous of them in Redis, and never touches a signed-in user.
	id := rand.Text() // 26 base32 characters: 128 bits from crypto/rand
	keys := []string{st.sessionKey(id)}
	if user != "" {
		id = userTag(user) + "." + id
		keys = []string{st.sessionKey(id), st.userSetKey(user)}
	} else if n, err := countScript.Run(ctx, st.client, []string{st.prefix + "anonymous"}, st.life.idleTimeout.Milliseconds()).Int(); err != nil {
		return failed(ctx, st.logger, "count anonymous sessions", err)
	} else if n > st.maxAnonymous {
		return nil // an anonymous session past the bound: not stored, no cookie
	}
	agent := strings.ToValidUTF8(r.UserAgent()[:min(len(r.UserAgent()), maxUserAgent)], "\uFFFD")
	ttl := min(st.life.idleTimeout, st.life.maxLifetime).Milliseconds()
	err = createScript.Run(ctx, st.client, keys, ttl, idHash(id), st.userSessionKey(user, ""),
		now.UnixMilli(), 2*st.life.maxLifetime.Milliseconds(), "user", user, "data", data, "created", now.UnixMilli(), "seen", now.UnixMilli(),
		"idle", now.Add(st.life.idleTimeout).UnixMilli(), "absolute", now.Add(st.life.maxLifetime).UnixMilli(), "ua", agent).Err()
	if err != nil {
		return failed(ctx, st.logger, "create session", err)
	}
	s.ID, s.IsNew = id, false
	setTimes(s, now, st.life.expiresAt(now, now))
	// The cookie only once Redis has the session: a failed write sets no cookie.
	return st.cookies.write(w, s, id)
}

// createScript stores a new session and lists it in its user's set, the set first: a script that fails halfway keeps what it
// wrote, and no session may exist that the set does not list. It drops the
// set's ten oldest members whose session Redis has deleted, so that the set
// shrinks as fast as sign-ins grow it, with no clock deciding and no walk of
// the whole set. It keeps the set for at least two max lifetimes, longer
// than any session it lists, whatever the flags of the instance that made
// the session. KEYS: the session, the user's set (none when anonymous);
// ARGV: the session's TTL (ms), its hash, what the names of its user's
// sessions start with, now, the set's TTL (ms), then field, value...
var createScript = redis.NewScript(`
if KEYS[2] then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, 9)) do
    if redis.call('EXISTS', ARGV[3] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
  end
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
return redis.call('PEXPIRE', KEYS[1], ARGV[1])`)

// countScript counts one in KEYS[1], in a window of ARGV[1] ms that the
// first count opens, and returns the count: the window and the count are
// written at once, so that no count lives on without its window. It counts
// new anonymous sessions, and the throttle's attempts.
var countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// RenewID deletes the session and forgets its id; see sessionStore.
func (st *RedisStore) RenewID(r *http.Request, s *sessions.Session) error {
	id := s.ID
	s.ID = "" // Save then stores the session under a new id
	return st.delete(r.Context(), id)
}

// delete deletes the session. Its user's set may list it still: the set
// drops it at a later sign-in.
func (st *RedisStore) delete(ctx context.Context, id string) error {
	if id == "" {
		return nil // never stored: nothing to delete, and nothing that can fail
	}
	return failed(ctx, st.logger, "delete session", st.client.Del(ctx, st.sessionKey(id)).Err())
}

// UserSessions lists the live sessions of user, the oldest first, and marks
// the current one (currentID's). Times are in UTC, to the second, as /sessions
// shows them.
func (st *RedisStore) UserSessions(ctx context.Context, user, currentID string) ([]sessionInfo, error) {
	handles, err := st.client.ZRange(ctx, st.userSetKey(user), 0, -1).Result()
	if err != nil {
		return nil, failed(ctx, st.logger, "list sessions", err)
	}
	now, list := st.now(), []sessionInfo{}
	for _, handle := range handles {
		var row sessionRow // stays empty, and ended, when Redis has deleted the session
		if err := st.client.HGetAll(ctx, st.userSessionKey(user, handle)).Scan(&row); err != nil {
			return nil, failed(ctx, st.logger, "list sessions", err)
		}
		if !now.Before(row.expiresAt(st.life)) {
			continue
		}
		info := sessionInfo{Handle: handle, UserAgent: row.UserAgent, Current: handle == sessionHandle(currentID)}
		info.Created = time.UnixMilli(row.Created).UTC().Truncate(time.Second)
		info.LastSeen = time.UnixMilli(row.LastSeen).UTC().Truncate(time.Second)
		list = append(list, info)
	}
	return list, nil
}

// DeleteUserSession deletes the session of user whose handle is handle, in
// one script that checks whose it is: the user's set lists the user's own.
func (st *RedisStore) DeleteUserSession(ctx context.Context, user, handle string) (bool, error) {
	deleted, err := revokeScript.Run(ctx, st.client, []string{st.userSessionKey(user, handle), st.userSetKey(user)}, handle).Bool()
	return deleted, failed(ctx, st.logger, "delete a session of the user", err)
}

// revokeScript deletes a session that the user's set lists, and says whether
// there was one. KEYS: the session, the user's set; ARGV[1]: the session's
// hash.
var revokeScript = redis.NewScript(`
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
return redis.call('DEL', KEYS[1])`)

// DeleteUserSessions deletes every session of user except the one whose id is
// exceptID ("" is no session's id: then it deletes them all), in one script:
// a login that comes after it is a new session, one that came before is
// listed, and deleted.
func (st *RedisStore) DeleteUserSessions(ctx context.Context, user, exceptID string) error {
	return failed(ctx, st.logger, "delete the user's sessions", endAllScript.Run(ctx, st.client, []string{st.userSetKey(user)}, st.userSessionKey(user, ""), sessionHandle(exceptID)).Err())
}

// endAllScript deletes every session in the user's set but one. KEYS[1]:
// the user's set; ARGV: what the names of the user's sessions start with,
// the hash to keep. The sessions' keys are not in KEYS, as Redis would like,
// because the set names them; they share its slot, so this works on a
// Cluster.
var endAllScript = redis.NewScript(`
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[2] then redis.call('DEL', ARGV[1] .. m); redis.call('ZREM', KEYS[1], m) end
end
return 0`)

// Ping says whether Redis answers, for /healthz. On a Cluster every master
// must answer: a third of the users on 503 is not health.
func (st *RedisStore) Ping(ctx context.Context) error {
	if cluster, ok := st.client.(*redis.ClusterClient); ok {
		return cluster.ForEachMaster(ctx, func(ctx context.Context, master *redis.Client) error {
			return master.Ping(ctx).Err()
		})
	}
	return st.client.Ping(ctx).Err()
}
