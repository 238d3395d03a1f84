package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
// set per user lists the user's sessions, for "my sessions" and "sign out
// everywhere":
//
//	gosessions:session:<sha256(id), hex>  a hash: user, data, created, seen, ua;
//	                                       TTL: until the earlier deadline
//	gosessions:user:<name>                a sorted set: the sha256(id) of each
//	                                       of the user's sessions, scored by
//	                                       its absolute deadline (Unix ms);
//	                                       TTL: until the last of them ends
//
// Every Redis error is returned, and the handlers answer 503: while Redis is
// unreachable nobody is signed in, and nobody is taken for an anonymous
// visitor either.
type RedisStore struct {
	client  redis.UniversalClient
	prefix  string // of every key, so that several apps can share one Redis
	cookies sessionCookies
	life    lifetimes
	now     func() time.Time // replaced in tests
	logger  *slog.Logger
}

// NewRedisStore returns a store in client whose cookies are signed with the
// first secret and verified with any of them.
func NewRedisStore(client redis.UniversalClient, secrets [][]byte, cfg config, logger *slog.Logger) *RedisStore {
	return &RedisStore{
		client:  client,
		prefix:  "gosessions:",
		cookies: newSessionCookies(secrets, cfg),
		life:    newLifetimes(cfg),
		now:     time.Now,
		logger:  logger,
	}
}

// redisTimeout bounds each store operation, go-redis' own retries included:
// while Redis is down or hangs, a request gets its 503 after this long at
// most.
const redisTimeout = 2 * time.Second

// redisOptions reads a Redis URL (-redis or REDIS_URL) into options for
// redis.NewUniversalClient, which picks the kind of client from them:
//
//	redis://[user:password@]host:6379/0   one server (rediss:// for TLS)
//	unix:///run/redis/redis.sock           one server, on a unix socket
//	redis://s1:26379?master_name=mymaster&addr=s2:26379&addr=s3:26379
//	                                       Sentinel: the sentinels, and the
//	                                       name of the master they watch
//	redis://n1:6379?addr=n2:6379&addr=n3:6379
//	                                       Cluster: some of its nodes
//
// Other query parameters (dial_timeout, pool_size, ...) are go-redis' own.
// A password belongs in REDIS_URL rather than in -redis: flags show in ps.
func redisOptions(rawURL string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redis URL: not a URL") // url's error repeats the URL, password and all
	}
	var o redis.UniversalOptions
	switch query := u.Query(); {
	case query.Has("master_name"):
		f, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL (Sentinel): %w", err)
		}
		o = redis.UniversalOptions{MasterName: f.MasterName, Addrs: f.SentinelAddrs,
			SentinelUsername: f.SentinelUsername, SentinelPassword: f.SentinelPassword,
			Username: f.Username, Password: f.Password, DB: f.DB, TLSConfig: f.TLSConfig,
			MaxRetries: f.MaxRetries, DialTimeout: f.DialTimeout, ReadTimeout: f.ReadTimeout,
			WriteTimeout: f.WriteTimeout, PoolSize: f.PoolSize}
	case query.Has("addr"):
		c, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL (Cluster): %w", err)
		}
		o = redis.UniversalOptions{IsClusterMode: true, Addrs: c.Addrs,
			Username: c.Username, Password: c.Password, TLSConfig: c.TLSConfig,
			MaxRetries: c.MaxRetries, DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout,
			WriteTimeout: c.WriteTimeout, PoolSize: c.PoolSize}
	default:
		s, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		o = redis.UniversalOptions{Addrs: []string{s.Addr},
			Username: s.Username, Password: s.Password, DB: s.DB, TLSConfig: s.TLSConfig,
			MaxRetries: s.MaxRetries, DialTimeout: s.DialTimeout, ReadTimeout: s.ReadTimeout,
			WriteTimeout: s.WriteTimeout, PoolSize: s.PoolSize}
	}
	// The context's deadline (redisTimeout) bounds reads and writes too, even
	// from a Redis that accepts connections and then does not answer.
	o.ContextTimeoutEnabled = true
	// One dial per attempt: go-redis retries the command anyway (max_retries,
	// 3 by default), and five dials per attempt on top of that kept a request
	// waiting 1.6s for its 503 while Redis was down.
	o.DialerRetries = 1
	return &o, nil
}

// idHash is how Redis knows a session: the SHA-256 of its id, in hex. A
// plain, fast hash is enough: the id is 128 random bits, so there is nothing
// to guess, and no salt or slow hash (as for passwords) is needed.
func idHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (st *RedisStore) sessionKey(hash string) string { return st.prefix + "session:" + hash }
func (st *RedisStore) userSetKey(user string) string { return st.prefix + "user:" + user }

// maxUserAgent bounds what a client can make the store keep.
const maxUserAgent = 256

// Ping says whether Redis answers, for /healthz.
func (st *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := st.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
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
	now, hash := st.now(), idHash(id)

	fields, err := st.client.HGetAll(ctx, st.sessionKey(hash)).Result()
	if err != nil {
		return nil, st.failed(ctx, "read session", err)
	}
	if len(fields) == 0 {
		return s, nil // never issued, deleted or expired: not adopted
	}
	rec, err := decodeRecord(fields)
	if err != nil {
		// Not the visitor's fault, and not worth an error page on every
		// request until it expires: log it, start afresh.
		st.logger.Error("redis: undecodable session, starting a new session", "err", err)
		return s, nil
	}
	// Redis deletes the key at the deadline; this covers the moment around
	// it, and a restart with shorter timeouts.
	if !now.Before(st.life.expiresAt(rec.created, rec.lastSeen)) {
		return s, nil
	}
	if r.Method != http.MethodHead && now.Sub(rec.lastSeen) >= st.life.touchEvery { // HEAD changes nothing
		_, found, err := st.update(ctx, hash, rec.created, now, "seen", now.UnixMilli())
		if err != nil {
			return nil, st.failed(ctx, "touch session", err)
		}
		if !found {
			return s, nil // deleted since the HGETALL: it stays deleted
		}
		rec.lastSeen = now
	}
	if rec.user != "" {
		rec.values[userKey] = rec.user
	}
	s.ID, s.Values, s.IsNew = id, rec.values, false
	setTimes(s, rec.created, st.life.expiresAt(rec.created, rec.lastSeen))
	return s, nil
}

// record is one session as its hash holds it.
type record struct {
	user              string // "" when anonymous
	values            map[any]any
	created, lastSeen time.Time
	userAgent         string
}

func decodeRecord(fields map[string]string) (record, error) {
	created, err1 := strconv.ParseInt(fields["created"], 10, 64)
	seen, err2 := strconv.ParseInt(fields["seen"], 10, 64)
	values, err3 := decodeValues([]byte(fields["data"]))
	if err := errors.Join(err1, err2, err3); err != nil {
		return record{}, err
	}
	return record{user: fields["user"], values: values, created: time.UnixMilli(created),
		lastSeen: time.UnixMilli(seen), userAgent: fields["ua"]}, nil
}

// The writes are Lua scripts, because each must check and write in one step:
// a check from Go and a write after it would leave a moment in which a logout
// on another instance deletes the key and the write brings it back. Redis
// runs a script whole, with no other command in between. Each script touches
// one key only, so that they also run on a Redis Cluster, where a session and
// its user's set may live on different nodes.
var (
	// createScript stores a new session, never over an existing one (like
	// SET NX). KEYS[1]: the session; ARGV: TTL in ms, then field, value, ...
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

	// updateScript updates a live session and sets its TTL anew; a deleted
	// or expired one stays deleted (like SET XX). It returns the session's
	// user before the update, or nil when there is no session.
	// KEYS[1]: the session; ARGV: TTL in ms, then field, value, ...
	updateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local user = redis.call('HGET', KEYS[1], 'user') or ''
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return user`)

	// indexScript adds a session to its user's set, drops the members past
	// their absolute deadline, and keeps the set as long as its last member
	// (never shorter than it was). KEYS[1]: the user's set; ARGV: the
	// session's hash, its absolute deadline, now (both Unix ms), TTL in ms.
	indexScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1`)
)

// ttl is how long Redis keeps a session written now: until the earlier of
// its deadlines.
func (st *RedisStore) ttl(created, now time.Time) int64 {
	return max(1, st.life.expiresAt(created, now).Sub(now).Milliseconds())
}

// update writes fields of a live session, and counts its idle deadline from
// now, in one command. found is false when the session is gone (deleted or
// expired): it is not recreated.
func (st *RedisStore) update(ctx context.Context, hash string, created, now time.Time, fieldValues ...any) (oldUser string, found bool, err error) {
	args := append([]any{st.ttl(created, now)}, fieldValues...)
	oldUser, err = updateScript.Run(ctx, st.client, []string{st.sessionKey(hash)}, args...).Text()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return oldUser, err == nil, err
}

// Save stores the session and, for a new one, sets the cookie.
func (st *RedisStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	if s.Options != nil && s.Options.MaxAge < 0 {
		if err := st.delete(ctx, s); err != nil {
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
		// Update only, and only a live session: if a logout deleted it (or it
		// expired) since this request read it, it stays gone.
		created, _ := sessionTimes(s)
		if created.IsZero() {
			return errors.New("update session: it was not read by this store")
		}
		hash := idHash(s.ID)
		oldUser, found, err := st.update(ctx, hash, created, now, "user", user, "data", data, "seen", now.UnixMilli())
		if err != nil {
			return st.failed(ctx, "update session", err)
		}
		if found && oldUser != user {
			// The handlers give a session a user only under a new id, but
			// the users' sets must follow whatever happens.
			if err := st.index(ctx, hash, oldUser, user, created, now); err != nil {
				return st.failed(ctx, "index session", err)
			}
		}
		return nil
	}

	id := rand.Text() // 26 base32 characters: 128 bits from crypto/rand
	hash := idHash(id)
	agent := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(agent) > maxUserAgent {
		agent = strings.ToValidUTF8(agent[:maxUserAgent], "")
	}
	stored, err := createScript.Run(ctx, st.client, []string{st.sessionKey(hash)}, st.ttl(now, now),
		"user", user, "data", data, "created", now.UnixMilli(), "seen", now.UnixMilli(), "ua", agent).Int()
	if err != nil {
		return st.failed(ctx, "create session", err)
	}
	if stored == 0 {
		return errors.New("create session: the new id is taken") // 128 random bits: never
	}
	if err := st.index(ctx, hash, "", user, now, now); err != nil {
		return st.failed(ctx, "index session", err)
	}
	// The cookie only once Redis has the session: a failed write sets no cookie.
	st.cookies.write(w, s, id)
	s.ID, s.IsNew = id, false
	setTimes(s, now, st.life.expiresAt(now, now))
	return nil
}

// index moves a session from oldUser's set to newUser's ("" for none).
func (st *RedisStore) index(ctx context.Context, hash, oldUser, newUser string, created, now time.Time) error {
	if oldUser != "" {
		if err := st.client.ZRem(ctx, st.userSetKey(oldUser), hash).Err(); err != nil {
			return err
		}
	}
	if newUser == "" {
		return nil
	}
	absolute := created.Add(st.life.maxLifetime)
	return indexScript.Run(ctx, st.client, []string{st.userSetKey(newUser)},
		hash, absolute.UnixMilli(), now.UnixMilli(), max(1, absolute.Sub(now).Milliseconds())).Err()
}

// RenewID deletes the session and forgets its id; see sessionStore.
func (st *RedisStore) RenewID(r *http.Request, s *sessions.Session) error {
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	if err := st.delete(ctx, s); err != nil {
		return err
	}
	s.ID = ""
	return nil
}

// delete deletes the session, and takes it out of its user's set, in one
// round trip.
func (st *RedisStore) delete(ctx context.Context, s *sessions.Session) error {
	if s.ID == "" {
		return nil
	}
	hash := idHash(s.ID)
	user, _ := s.Values[userKey].(string)
	if _, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, st.sessionKey(hash))
		if user != "" {
			p.ZRem(ctx, st.userSetKey(user), hash)
		}
		return nil
	}); err != nil {
		return st.failed(ctx, "delete session", err)
	}
	return nil
}

// UserSessions lists the live sessions of user, the current one (currentID's)
// first, then the most recently used. It drops from the user's set the
// sessions that Redis has expired.
func (st *RedisStore) UserSessions(ctx context.Context, user, currentID string) ([]sessionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	hashes, err := st.userSessions(ctx, user)
	if err != nil {
		return nil, st.failed(ctx, "list sessions", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(hashes))
	if _, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, hash := range hashes {
			cmds[i] = p.HGetAll(ctx, st.sessionKey(hash))
		}
		return nil
	}); err != nil {
		return nil, st.failed(ctx, "list sessions", err)
	}
	now, current := st.now(), idHash(currentID)
	var list []sessionInfo
	var gone []any
	for i, cmd := range cmds {
		rec, err := decodeRecord(cmd.Val())
		if err != nil || rec.user != user {
			gone = append(gone, hashes[i]) // expired, so deleted by Redis (or not the user's any more)
			continue
		}
		if expires := st.life.expiresAt(rec.created, rec.lastSeen); now.Before(expires) {
			list = append(list, sessionInfo{
				Created:   rec.created,
				LastSeen:  rec.lastSeen,
				Expires:   expires,
				UserAgent: rec.userAgent,
				Current:   currentID != "" && hashes[i] == current,
			})
		}
	}
	if len(gone) > 0 {
		if err := st.client.ZRem(ctx, st.userSetKey(user), gone...).Err(); err != nil {
			return nil, st.failed(ctx, "list sessions", err)
		}
	}
	slices.SortStableFunc(list, func(a, b sessionInfo) int {
		switch {
		case a.Current != b.Current:
			if a.Current {
				return -1
			}
			return 1
		case !a.LastSeen.Equal(b.LastSeen):
			return b.LastSeen.Compare(a.LastSeen)
		default:
			return b.Created.Compare(a.Created)
		}
	})
	return list, nil
}

// DeleteUserSessions deletes every session of user except the one whose id is
// exceptID ("" deletes them all).
func (st *RedisStore) DeleteUserSessions(ctx context.Context, user, exceptID string) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	hashes, err := st.userSessions(ctx, user)
	if err != nil {
		return st.failed(ctx, "delete the user's sessions", err)
	}
	keep := ""
	if exceptID != "" {
		keep = idHash(exceptID)
	}
	var gone []any
	if _, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, hash := range hashes {
			if hash != keep {
				// One DEL per key: in a Cluster they live on different nodes.
				p.Del(ctx, st.sessionKey(hash))
				gone = append(gone, hash)
			}
		}
		if len(gone) > 0 {
			p.ZRem(ctx, st.userSetKey(user), gone...)
		}
		return nil
	}); err != nil {
		return st.failed(ctx, "delete the user's sessions", err)
	}
	return nil
}

// userSessions drops from the user's set the sessions past their absolute
// deadline, and returns the hashes of the others (some of which may have
// idled out: Redis has deleted their keys), in one round trip.
func (st *RedisStore) userSessions(ctx context.Context, user string) ([]string, error) {
	var members *redis.StringSliceCmd
	_, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, st.userSetKey(user), "-inf", strconv.FormatInt(st.now().UnixMilli(), 10))
		members = p.ZRange(ctx, st.userSetKey(user), 0, -1)
		return nil
	})
	return members.Val(), err
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
