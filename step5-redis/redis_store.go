package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
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
//	                                       user (""), data, created, seen, ua,
//	                                       deadline, idle; TTL: its end
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
	return &RedisStore{
		client:       client,
		prefix:       prefix,
		cookies:      cookies,
		life:         life,
		maxAnonymous: defaultMaxAnonymous,
		now:          time.Now,
		logger:       logger,
	}
}

// record is a session's hash. Times are Unix milliseconds; a session keeps
// the deadline and idle timeout it was issued with, and the flags of a
// restart may shorten them (expiresAt), never lengthen them.
type record struct {
	User     string `redis:"user"` // "" when anonymous; the other values are in data (encodeValues)
	Created  int64  `redis:"created"`
	Seen     int64  `redis:"seen"`
	Deadline int64  `redis:"deadline"` // absolute
	Idle     int64  `redis:"idle"`     // ms
	Agent    string `redis:"ua"`
}

// expiresAt is the real end of a session: the earliest of its absolute and
// idle deadlines, as issued or as the current flags make them.
func (st *RedisStore) expiresAt(rec record) time.Time {
	return time.UnixMilli(min(rec.Deadline, rec.Created+st.life.maxLifetime.Milliseconds(),
		rec.Seen+min(rec.Idle, st.life.idleTimeout.Milliseconds())))
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
		return st.sessionStem(tag) + idHash(id)
	}
	return st.prefix + "session:" + idHash(id)
}

// sessionStem is the name of the signed-in sessions' keys in the slot of
// tag, up to the hash.
func (st *RedisStore) sessionStem(tag string) string { return st.prefix + "session:{" + tag + "}:" }

func (st *RedisStore) userSetKey(user string) string {
	return st.prefix + "user:{" + userTag(user) + "}:" + user
}

// The writes that must check before they write are Lua scripts: Redis runs a
// script whole, with no other command in between, so that no logout on
// another instance can fall between the check and the write. Each touches
// the keys of one Cluster slot only.
var (
	// createScript stores a new session and lists it in its user's set, the
	// set first: a script that fails halfway keeps what it wrote, and no
	// session may exist that the set does not list. It drops the set's ten
	// oldest members whose session Redis has deleted (so that the set
	// shrinks as fast as logins grow it, with no clock deciding), and keeps
	// the set for at least two max lifetimes. KEYS: the session, the user's
	// set (none when anonymous); ARGV: the session's TTL, its hash, the
	// sessionStem of its user, the set's TTL (ms), now, then field, value...
	createScript = redis.NewScript(`
if KEYS[2] then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, 9)) do
    if redis.call('EXISTS', ARGV[3] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
  end
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
return redis.call('PEXPIRE', KEYS[1], ARGV[1])`)

	// updateScript writes fields of a live session and sets its TTL anew
	// (see expiresAt); a deleted or expired session stays deleted. KEYS[1]:
	// the session; ARGV: now, the idle timeout and the max lifetime (ms),
	// then field, value...
	updateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'created', 'deadline', 'idle')
if not f[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local now = tonumber(ARGV[1])
local ends = math.min(f[2], f[1] + ARGV[3], now + math.min(f[3], ARGV[2]))
return redis.call('PEXPIRE', KEYS[1], math.max(1, ends - now))`)

	// endAllScript deletes every session in the user's set but one. KEYS[1]:
	// the user's set; ARGV: the user's sessionStem, the hash to keep ("":
	// none). The sessions' keys are not in KEYS, as Redis would like, because
	// the set names them; they share its slot, so this works on a Cluster.
	endAllScript = redis.NewScript(`
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[2] then redis.call('DEL', ARGV[1] .. m); redis.call('ZREM', KEYS[1], m) end
end
return 0`)

	// revokeScript deletes a session that the user's set lists, and says
	// whether there was one: only the user's own are in the set. KEYS: the
	// session, the user's set; ARGV[1]: the session's hash.
	revokeScript = redis.NewScript(`
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
return redis.call('DEL', KEYS[1])`)

	// countScript counts one in KEYS[1], in a window of ARGV[1] ms that the
	// first count opens, and returns the count.
	countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)
)

// update writes fields of the live session at key, and counts its idle
// deadline from now; a session that is gone is not recreated.
func (st *RedisStore) update(ctx context.Context, key string, now time.Time, fieldValues ...any) error {
	args := append([]any{now.UnixMilli(), st.life.idleTimeout.Milliseconds(), st.life.maxLifetime.Milliseconds()}, fieldValues...)
	return updateScript.Run(ctx, st.client, []string{key}, args...).Err()
}

// maxUserAgent bounds what a client can make the store keep.
const maxUserAgent = 256

// errPartialOutage says that Redis answers, but not for every session: a
// Cluster master is down and no replica has taken over yet, or some slots
// have no master at all.
var errPartialOutage = errors.New("redis cluster: some sessions cannot be served")

// Ping says whether Redis answers, for /healthz. On a Cluster every master
// must answer, and say that every slot is served: a third of the users on
// 503 is not health.
func (st *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	cluster, ok := st.client.(*redis.ClusterClient)
	if !ok {
		return st.client.Ping(ctx).Err()
	}
	var answered atomic.Bool
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, master *redis.Client) error {
		info, err := master.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		answered.Store(true)
		if !strings.Contains(info, "cluster_state:ok") {
			return errors.New("a master says cluster_state is not ok")
		}
		return nil
	})
	if err != nil && answered.Load() {
		return fmt.Errorf("%w: %w", errPartialOutage, err)
	}
	return err
}

// New returns a new, empty session that is not stored yet: Save stores it and
// gives it its id.
func (st *RedisStore) New(r *http.Request, name string) (*sessions.Session, error) {
	return st.cookies.newSession(st, name), nil
}

// Get returns the session named by the request's cookie, or a new one when
// there is no cookie or it names no live session. It is one HGETALL, and a
// write only when the idle deadline is due to be pushed out. When Redis
// fails it returns the error and no session at all: nobody is anonymous by
// mistake.
func (st *RedisStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	s := st.cookies.newSession(st, name)
	id, ok := st.cookies.readID(r, name)
	if !ok {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	now, key := st.now(), st.sessionKey(id)
	hash := st.client.HGetAll(ctx, key)
	if err := hash.Err(); err != nil {
		return nil, st.failed(ctx, "read session", err)
	}
	// A session that was never issued, was deleted or has expired is not
	// adopted: Redis deletes the key at its end, and the check of the end
	// covers the moment around it and a restart with shorter flags. Nor is
	// a signed-in session outside its user's slot, which no set lists.
	var rec record
	values, err := decodeValues([]byte(hash.Val()["data"])) // no hash, no data: an error
	if err = cmp.Or(err, hash.Scan(&rec)); err != nil || !now.Before(st.expiresAt(rec)) ||
		rec.User != "" && !strings.HasPrefix(id, userTag(rec.User)+".") {
		return s, nil
	}
	if r.Method != http.MethodHead && now.Sub(time.UnixMilli(rec.Seen)) >= st.life.touchEvery { // HEAD changes nothing
		if err := st.update(ctx, key, now, "seen", now.UnixMilli()); err != nil {
			return nil, st.failed(ctx, "touch session", err)
		}
		rec.Seen = now.UnixMilli()
	}
	if rec.User != "" {
		values[userKey] = rec.User
	}
	s.ID, s.Values, s.IsNew = id, values, false
	setTimes(s, time.UnixMilli(rec.Created), st.expiresAt(rec))
	return s, nil
}

// Save stores the session and, for a new one, sets the cookie.
func (st *RedisStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Options != nil && s.Options.MaxAge < 0 {
		if err := st.RenewID(r, s); err != nil {
			return err
		}
		st.cookies.expire(w, s)
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	// The user has a field of its own (for the user's set); the other values
	// go in data.
	user, _ := s.Values[userKey].(string)
	data, err := encodeValues(s.Values)
	if err != nil {
		return err
	}
	now := st.now()

	if s.ID != "" {
		// A session changes hands only under a new id (the handlers call
		// RenewID first), which puts it in its user's slot.
		if tag, _, signedIn := strings.Cut(s.ID, "."); signedIn != (user != "") || signedIn && tag != userTag(user) {
			return errors.New("update session: its user changed under the same id")
		}
		// Update only: if a logout deleted it (or it expired) since this
		// request read it, it stays gone.
		if err := st.update(ctx, st.sessionKey(s.ID), now, "data", data, "seen", now.UnixMilli()); err != nil {
			return st.failed(ctx, "update session", err)
		}
		return nil
	}

	// Anonymous sessions are bounded: past maxAnonymous new ones in an idle
	// timeout, a visitor without a session gets none (the page still
	// answers). A flood of cookieless requests thus leaves at most
	// 2 x maxAnonymous of them in Redis, and never touches a signed-in user.
	id := rand.Text() // 26 base32 characters: 128 bits from crypto/rand
	if user != "" {
		id = userTag(user) + "." + id
	} else if n, err := countScript.Run(ctx, st.client, []string{st.prefix + "anonymous"}, st.life.idleTimeout.Milliseconds()).Int(); err != nil {
		return st.failed(ctx, "count anonymous sessions", err)
	} else if n > st.maxAnonymous {
		return nil
	}
	keys := []string{st.sessionKey(id)}
	if user != "" {
		keys = append(keys, st.userSetKey(user))
	}
	agent := strings.ToValidUTF8(r.UserAgent()[:min(len(r.UserAgent()), maxUserAgent)], "\uFFFD")
	ttl := max(1, min(st.life.idleTimeout, st.life.maxLifetime).Milliseconds())
	err = createScript.Run(ctx, st.client, keys, ttl, idHash(id), st.sessionStem(userTag(user)), 2*st.life.maxLifetime.Milliseconds(), now.UnixMilli(),
		"user", user, "data", data, "created", now.UnixMilli(), "seen", now.UnixMilli(), "ua", agent,
		"deadline", now.Add(st.life.maxLifetime).UnixMilli(), "idle", st.life.idleTimeout.Milliseconds()).Err()
	if err != nil {
		return st.failed(ctx, "create session", err)
	}
	// The cookie only once Redis has the session: a failed write sets no cookie.
	if err := st.cookies.write(w, s, id); err != nil {
		return err
	}
	s.ID, s.IsNew = id, false
	setTimes(s, now, st.life.expiresAt(now, now))
	return nil
}

// RenewID deletes the session and forgets its id; see sessionStore. Its
// user's set may list it still: the set drops it at a later sign-in.
func (st *RedisStore) RenewID(r *http.Request, s *sessions.Session) error {
	if s.ID != "" {
		ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
		defer cancel()
		if err := st.client.Del(ctx, st.sessionKey(s.ID)).Err(); err != nil {
			return st.failed(ctx, "delete session", err)
		}
	}
	s.ID = ""
	return nil
}

// UserSessions lists the live sessions of user, the current one (currentID's)
// first, then the most recently used.
func (st *RedisStore) UserSessions(ctx context.Context, user, currentID string) ([]sessionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	hashes, err := st.client.ZRange(ctx, st.userSetKey(user), 0, -1).Result()
	if err != nil {
		return nil, st.failed(ctx, "list sessions", err)
	}
	cmds, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range hashes {
			p.HGetAll(ctx, st.sessionStem(userTag(user))+h)
		}
		return nil
	})
	if err != nil {
		return nil, st.failed(ctx, "list sessions", err)
	}
	var list []sessionInfo
	for i, cmd := range cmds {
		var rec record // stays empty, and ended, when Redis has deleted the session
		if err := cmd.(*redis.MapStringStringCmd).Scan(&rec); err == nil && st.now().Before(st.expiresAt(rec)) {
			list = append(list, sessionInfo{Handle: hashes[i], Created: time.UnixMilli(rec.Created), LastSeen: time.UnixMilli(rec.Seen),
				Expires: st.expiresAt(rec), UserAgent: rec.Agent, Current: hashes[i] == idHash(currentID)})
		}
	}
	slices.SortFunc(list, func(a, b sessionInfo) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), b.Created.Compare(a.Created))
	})
	return list, nil
}

// DeleteUserSession deletes the session of user whose handle is handle, and
// says whether there was one.
func (st *RedisStore) DeleteUserSession(ctx context.Context, user, handle string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	deleted, err := revokeScript.Run(ctx, st.client, []string{st.sessionStem(userTag(user)) + handle, st.userSetKey(user)}, handle).Bool()
	if err != nil {
		return false, st.failed(ctx, "delete a session of the user", err)
	}
	return deleted, nil
}

// DeleteUserSessions deletes every session of user except the one whose id is
// exceptID ("" deletes them all), in one step: a login that comes after it
// is a new session, one that came before is listed, and deleted.
func (st *RedisStore) DeleteUserSessions(ctx context.Context, user, exceptID string) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	keep := idHash(exceptID) // of "": no session's
	if err := endAllScript.Run(ctx, st.client, []string{st.userSetKey(user)}, st.sessionStem(userTag(user)), keep).Err(); err != nil {
		return st.failed(ctx, "delete the user's sessions", err)
	}
	return nil
}

// failed logs a failure of Redis, once, where it happens, and returns it with
// context; the handlers then answer 503 without logging it again. Nothing
// logged names a session: the commands carry only hashes of ids, and
// go-redis' errors never repeat a command's arguments.
func (st *RedisStore) failed(ctx context.Context, what string, err error) error {
	if !errors.Is(ctx.Err(), context.Canceled) { // a request whose client left is no failure of ours
		st.logger.Error("redis: "+what, "err", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
