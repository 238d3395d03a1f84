package main

import (
	"cmp"
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
// set per user lists the user's sessions, for "my sessions" and "sign out
// everywhere", and a counter per user, the epoch, ends at once every session
// issued before it last changed:
//
//	<prefix>session:<sha256(id), hex>  a hash: user, data, created, seen, ua,
//	                                    deadline, idle, epoch; TTL: until the
//	                                    earlier of its deadlines
//	<prefix>user:{<name>}              a sorted set: the sha256(id) of each of
//	                                    the user's sessions, scored by its
//	                                    absolute deadline (Unix ms)
//	<prefix>epoch:{<name>}             the user's epoch (absent: 0)
//	<prefix>anonymous                  how many anonymous sessions this
//	                                    idle-timeout window has created
//
// The {braces} put a user's set and epoch in the same Cluster slot, so that
// one script can change both at once.
//
// A session keeps the deadlines it was issued with: its absolute deadline
// and its idle timeout are stored in its hash, and a restart with other
// flags may shorten them (the earlier wins), never lengthen them.
//
// Every Redis error is returned, and the handlers answer 503: while Redis is
// unreachable nobody is signed in, and nobody is taken for an anonymous
// visitor either.
type RedisStore struct {
	client       redis.UniversalClient
	prefix       string // of every key, so that several apps can share one Redis
	cookies      sessionCookies
	life         lifetimes
	maxAnonymous int              // new anonymous sessions per idle-timeout window
	now          func() time.Time // replaced in tests
	logger       *slog.Logger
}

// NewRedisStore returns a store in client whose cookies are signed with the
// first secret and verified with any of them.
func NewRedisStore(client redis.UniversalClient, secrets [][]byte, cfg config, logger *slog.Logger) *RedisStore {
	return &RedisStore{
		client:       client,
		prefix:       cmp.Or(cfg.redisPrefix, defaultRedisPrefix),
		cookies:      newSessionCookies(secrets, cfg),
		life:         newLifetimes(cfg),
		maxAnonymous: cmp.Or(cfg.maxAnonymous, defaultMaxAnonymous),
		now:          time.Now,
		logger:       logger,
	}
}

// redisTimeout bounds each store operation, go-redis' own retries included:
// while Redis is down or hangs, a request gets its 503 after this long at
// most.
const redisTimeout = 2 * time.Second

// redisConfig is what a Redis URL (-redis or REDIS_URL) says: the options of
// exactly one kind of go-redis client.
type redisConfig struct {
	single   *redis.Options         // one server
	sentinel *redis.FailoverOptions // the sentinels, and the master they watch
	cluster  *redis.ClusterOptions  // some nodes of a Cluster
}

// clusterReloadInterval is how old go-redis lets its map of a Cluster's
// slots grow before it asks a node again. go-redis reloads the map at once on
// MOVED, but not when a master stops answering: with its default (60s) a
// failover left a third of the sessions on 503 for a minute after Redis had
// promoted a replica in four seconds. A map a second old costs one CLUSTER
// SLOTS a second, and a failover a second more than Redis's own.
const clusterReloadInterval = time.Second

// parseRedisURL reads a Redis URL:
//
//	redis://[user:password@]host:6379/0   one server (rediss:// for TLS)
//	unix:///run/redis/redis.sock           one server, on a unix socket
//	redis://s1:26379?master_name=mymaster&addr=s2:26379&addr=s3:26379
//	                                       Sentinel: the sentinels, and the
//	                                       name of the master they watch
//	redis://n1:6379?cluster=true&addr=n2:6379
//	                                       Cluster: one or more of its nodes
//	                                       (addr= alone says Cluster too)
//
// Other query parameters (dial_timeout, pool_size, ...) are go-redis' own,
// and each takes effect: go-redis refuses the ones it does not know, and this
// function those that would be ignored or would weaken a guarantee. A
// password belongs in REDIS_URL rather than in -redis: flags show in ps.
func parseRedisURL(rawURL string) (redisConfig, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return redisConfig{}, errors.New("redis URL: not a URL") // url's error repeats the URL, password and all
	}
	query := u.Query()
	// Reads from replicas (or routed to any node) could find a session
	// that a logout has just deleted on the master: refused, whatever the
	// topology. context_timeout_enabled=false would let a hung Redis hold a
	// request past redisTimeout.
	for _, p := range []string{"read_only", "replica_only", "route_by_latency", "route_randomly", "use_disconnected_replicas", "context_timeout_enabled"} {
		if query.Has(p) {
			return redisConfig{}, fmt.Errorf("redis URL: parameter %s is not supported: sessions are read from the master only, and every command is bounded by the request's deadline", p)
		}
	}
	isCluster := query.Has("addr") && !query.Has("master_name")
	if query.Has("cluster") {
		switch query.Get("cluster") {
		case "true":
			isCluster = true
		case "false":
			if isCluster {
				return redisConfig{}, errors.New("redis URL: addr= without master_name names Cluster nodes, but cluster=false")
			}
		default:
			return redisConfig{}, errors.New("redis URL: cluster must be true or false")
		}
		query.Del("cluster") // ours, not go-redis'
		u.RawQuery = query.Encode()
	}
	// Every client dials once per attempt unless the URL says otherwise
	// (dialer_retries): go-redis retries the command anyway, and five dials
	// per attempt on top of that kept a request waiting 1.6s for its 503
	// while Redis was down.
	var c redisConfig
	switch {
	case isCluster && query.Has("master_name"):
		return redisConfig{}, errors.New("redis URL: cluster=true and master_name= (Sentinel) exclude each other")
	case query.Has("master_name"):
		c.sentinel, err = redis.ParseFailoverURL(u.String())
		if err != nil {
			return redisConfig{}, fmt.Errorf("redis URL (Sentinel): %w", err)
		}
		c.sentinel.ContextTimeoutEnabled = true
		c.sentinel.DialerRetries = cmp.Or(c.sentinel.DialerRetries, 1)
	case isCluster:
		// A Cluster has one database, 0; go-redis would ignore a path.
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return redisConfig{}, fmt.Errorf("redis URL (Cluster): a Cluster has database 0 only, not %q", p)
		}
		u.Path = ""
		c.cluster, err = redis.ParseClusterURL(u.String())
		if err != nil {
			return redisConfig{}, fmt.Errorf("redis URL (Cluster): %w", err)
		}
		c.cluster.ContextTimeoutEnabled = true
		c.cluster.DialerRetries = cmp.Or(c.cluster.DialerRetries, 1)
		c.cluster.ClusterStateReloadInterval = clusterReloadInterval
	default:
		c.single, err = redis.ParseURL(u.String())
		if err != nil {
			return redisConfig{}, fmt.Errorf("redis URL: %w", err)
		}
		c.single.ContextTimeoutEnabled = true
		c.single.DialerRetries = 1
	}
	return c, nil
}

// addrs are the addresses the URL names, for the log.
func (c redisConfig) addrs() []string {
	switch {
	case c.sentinel != nil:
		return c.sentinel.SentinelAddrs
	case c.cluster != nil:
		return c.cluster.Addrs
	default:
		return []string{c.single.Addr}
	}
}

// newClient returns the client the URL asks for.
func (c redisConfig) newClient() redis.UniversalClient {
	switch {
	case c.sentinel != nil:
		return redis.NewFailoverClient(c.sentinel)
	case c.cluster != nil:
		return redis.NewClusterClient(c.cluster)
	default:
		return redis.NewClient(c.single)
	}
}

// connectRedis returns a client for the URL. A URL that names one server
// which turns out to be a Cluster node gets a Cluster client: one node's
// address is enough to reach a Cluster. That takes a Redis that answers at
// start; cluster=true says it without asking.
func connectRedis(ctx context.Context, rawURL string, logger *slog.Logger) (redis.UniversalClient, redisConfig, error) {
	c, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, c, err
	}
	client := c.newClient()
	if c.single == nil || c.single.Network == "unix" {
		return client, c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	info, err := client.Info(ctx, "cluster").Result()
	if err != nil {
		logger.Warn("redis: could not ask whether it is a Cluster node; taking it for one server (add cluster=true to the URL for a Cluster)", "err", err)
		return client, c, nil
	}
	if !strings.Contains(info, "cluster_enabled:1") {
		return client, c, nil
	}
	client.Close()
	logger.Info("redis: the URL names a Cluster node: using it as a Cluster")
	u, _ := url.Parse(rawURL) // parsed above already
	query := u.Query()
	query.Set("cluster", "true")
	u.RawQuery = query.Encode()
	if c, err = parseRedisURL(u.String()); err != nil {
		return nil, c, err
	}
	return c.newClient(), c, nil
}

// idHash is how Redis knows a session: the SHA-256 of its id, in hex. A
// plain, fast hash is enough: the id is 128 random bits, so there is nothing
// to guess, and no salt or slow hash (as for passwords) is needed.
func idHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// sessionHandle is the handle of a session (see sessionInfo): the hash in
// its key's name.
func sessionHandle(id string) string { return idHash(id) }

func (st *RedisStore) sessionKey(hash string) string { return st.prefix + "session:" + hash }
func (st *RedisStore) userSetKey(user string) string { return st.prefix + "user:{" + user + "}" }
func (st *RedisStore) epochKey(user string) string   { return st.prefix + "epoch:{" + user + "}" }
func (st *RedisStore) anonymousKey() string          { return st.prefix + "anonymous" }

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
		if err := st.client.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	}
	var answered atomic.Int32
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, master *redis.Client) error {
		info, err := master.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		answered.Add(1)
		if !strings.Contains(info, "cluster_state:ok") {
			return errors.New("a master says cluster_state is not ok")
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case answered.Load() == 0:
		return fmt.Errorf("redis: %w", err)
	default:
		return fmt.Errorf("%w: %w", errPartialOutage, err)
	}
}

// New returns a new, empty session that is not stored yet: Save stores it and
// gives it its id.
func (st *RedisStore) New(r *http.Request, name string) (*sessions.Session, error) {
	return st.cookies.newSession(st, name), nil
}

// Get returns the session named by the request's cookie, or a new one when
// there is no cookie or it names no live session. It is one HGETALL (and a
// GET of the user's epoch for a signed-in session), and a write only when
// the idle deadline is due to be pushed out. When Redis fails it returns the
// error and no session at all: nobody is anonymous by mistake.
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
	if !now.Before(st.expiresAt(rec)) {
		return s, nil
	}
	if rec.user != "" {
		// Sign-out-everywhere moved the user's epoch on: a session issued
		// before it has ended, even one its user's set lost track of.
		epoch, err := st.client.Get(ctx, st.epochKey(rec.user)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, st.failed(ctx, "read the user's epoch", err)
		}
		if epoch != rec.epoch {
			return s, nil
		}
	}
	if r.Method != http.MethodHead && now.Sub(rec.lastSeen) >= st.life.touchEvery { // HEAD changes nothing
		_, found, err := st.update(ctx, hash, now, "seen", now.UnixMilli())
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
	setTimes(s, rec.created, st.expiresAt(rec))
	return s, nil
}

// expiresAt is the real end of a session: the earlier of its idle and its
// absolute deadline, each the one it was issued with or, when the flags
// have been shortened since, the shorter one.
func (st *RedisStore) expiresAt(rec record) time.Time {
	deadline := min(rec.deadline.UnixMilli(), rec.created.Add(st.life.maxLifetime).UnixMilli())
	idle := rec.lastSeen.Add(min(rec.idle, st.life.idleTimeout)).UnixMilli()
	return time.UnixMilli(min(deadline, idle))
}

// record is one session as its hash holds it.
type record struct {
	user              string // "" when anonymous
	values            map[any]any
	created, lastSeen time.Time
	deadline          time.Time     // absolute, as issued
	idle              time.Duration // the idle timeout, as issued
	epoch             int64         // the user's epoch when issued
	userAgent         string
}

func decodeRecord(fields map[string]string) (record, error) {
	var ms [5]int64
	var errs []error
	for i, name := range []string{"created", "seen", "deadline", "idle", "epoch"} {
		var err error
		ms[i], err = strconv.ParseInt(fields[name], 10, 64)
		errs = append(errs, err)
	}
	values, err := decodeValues([]byte(fields["data"]))
	if err := errors.Join(append(errs, err)...); err != nil {
		return record{}, err
	}
	return record{user: fields["user"], values: values, created: time.UnixMilli(ms[0]),
		lastSeen: time.UnixMilli(ms[1]), deadline: time.UnixMilli(ms[2]),
		idle: time.Duration(ms[3]) * time.Millisecond, epoch: ms[4], userAgent: fields["ua"]}, nil
}

// The writes are Lua scripts, because each must check and write in one step:
// a check from Go and a write after it would leave a moment in which a logout
// on another instance deletes the key and the write brings it back. Redis
// runs a script whole, with no other command in between. Each script touches
// one Cluster slot only, so that they also run on a Redis Cluster, where a
// session and its user's set may live on different nodes.
var (
	// createScript stores a new session, never over an existing one (like
	// SET NX). KEYS[1]: the session; ARGV: TTL in ms, then field, value, ...
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

	// updateScript updates a live session and sets its TTL anew, from the
	// deadlines stored in it (or the current flags', when shorter); a
	// deleted or expired one stays deleted (like SET XX). It returns the
	// session's user before the update, or nil when there is no session.
	// KEYS[1]: the session; ARGV: now (Unix ms), the idle timeout and the
	// max lifetime (ms), then field, value, ...
	updateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'user', 'created', 'deadline', 'idle')
if not f[1] then return false end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local now = tonumber(ARGV[1])
local deadline = math.min(tonumber(f[3]) or 0, (tonumber(f[2]) or 0) + tonumber(ARGV[3]))
local idle = math.min(tonumber(f[4]) or 0, tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(deadline, now + idle) - now))
return f[1]`)

	// indexScript adds a session to its user's set, and returns the user's
	// epoch, which the session will carry. It drops the members a max
	// lifetime past their deadline, and keeps the set and the epoch for at
	// least keep ms: twice the max lifetime, so that every session they
	// cover has ended by then, even by a clock that is a max lifetime off.
	// KEYS: the user's set and epoch; ARGV: the session's hash, its
	// absolute deadline, the score below which members go (Unix ms), keep.
	indexScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < tonumber(ARGV[4]) then redis.call('PEXPIRE', key, ARGV[4]) end
end
return tonumber(redis.call('GET', KEYS[2]) or '0')`)

	// endAllScript moves the user's epoch on, so that every session issued
	// before ends, listed or not, and takes the sessions out of the user's
	// set but the one to keep. It returns the new epoch and the hashes of
	// the sessions to delete. KEYS: the user's set and epoch; ARGV: keep
	// (ms, as for indexScript), the hash of the session to keep ("" none).
	endAllScript = redis.NewScript(`
local epoch = redis.call('INCR', KEYS[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
local gone = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[2] then
    redis.call('ZREM', KEYS[1], m)
    gone[#gone + 1] = m
  end
end
return {epoch, gone}`)

	// epochScript gives a live session the user's new epoch.
	// KEYS[1]: the session; ARGV[1]: the epoch.
	epochScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
return 1`)

	// revokeScript deletes a session if it is the user's, and says whether it
	// did. KEYS[1]: the session; ARGV[1]: the user.
	revokeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'user') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`)

	// anonymousScript counts a new anonymous session in the window that the
	// first of them opened, and returns the count. KEYS[1]: the counter;
	// ARGV[1]: the window (ms).
	anonymousScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)
)

// update writes fields of a live session, and counts its idle deadline from
// now, in one command. found is false when the session is gone (deleted or
// expired): it is not recreated.
func (st *RedisStore) update(ctx context.Context, hash string, now time.Time, fieldValues ...any) (oldUser string, found bool, err error) {
	args := append([]any{now.UnixMilli(), st.life.idleTimeout.Milliseconds(), st.life.maxLifetime.Milliseconds()}, fieldValues...)
	oldUser, err = updateScript.Run(ctx, st.client, []string{st.sessionKey(hash)}, args...).Text()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return oldUser, err == nil, err
}

// keepUserKeys is how long a user's set and epoch are kept, at least, after
// each write: see indexScript.
func (st *RedisStore) keepUserKeys() int64 { return 2 * st.life.maxLifetime.Milliseconds() }

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
		oldUser, found, err := st.update(ctx, hash, now, "user", user, "data", data, "seen", now.UnixMilli())
		if err != nil {
			return st.failed(ctx, "update session", err)
		}
		if found && oldUser != user {
			// The handlers give a session a user only under a new id, but
			// the users' sets must follow whatever happens.
			if err := st.reindex(ctx, hash, oldUser, user, created.Add(st.life.maxLifetime)); err != nil {
				return st.failed(ctx, "index session", err)
			}
		}
		return nil
	}

	// Anonymous sessions are bounded: past maxAnonymous new ones in an idle
	// timeout, a visitor without a session gets none (the page still
	// answers). A flood of cookieless requests thus leaves at most
	// 2 x maxAnonymous of them in Redis, and never touches a signed-in user.
	if user == "" {
		n, err := anonymousScript.Run(ctx, st.client, []string{st.anonymousKey()}, st.life.idleTimeout.Milliseconds()).Int()
		if err != nil {
			return st.failed(ctx, "count anonymous sessions", err)
		}
		if n > st.maxAnonymous {
			return nil
		}
	}

	id := rand.Text() // 26 base32 characters: 128 bits from crypto/rand
	hash := idHash(id)
	deadline := now.Add(st.life.maxLifetime)
	// The user's set first, then the session: a session exists only once
	// it is listed, so a failure in between leaves no session, only a
	// member of the set that lists nothing (and goes with the set).
	var epoch int64
	if user != "" {
		if epoch, err = st.index(ctx, hash, user, deadline); err != nil {
			return st.failed(ctx, "index session", err)
		}
	}
	agent := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(agent) > maxUserAgent {
		agent = strings.ToValidUTF8(agent[:maxUserAgent], "")
	}
	ttl := min(st.life.idleTimeout, st.life.maxLifetime).Milliseconds()
	stored, err := createScript.Run(ctx, st.client, []string{st.sessionKey(hash)}, max(1, ttl),
		"user", user, "data", data, "created", now.UnixMilli(), "seen", now.UnixMilli(), "ua", agent,
		"deadline", deadline.UnixMilli(), "idle", st.life.idleTimeout.Milliseconds(), "epoch", epoch).Int()
	if err != nil {
		return st.failed(ctx, "create session", err)
	}
	if stored == 0 {
		return errors.New("create session: the new id is taken") // 128 random bits: never
	}
	// The cookie only once Redis has the session: a failed write sets no cookie.
	if err := st.cookies.write(w, s, id); err != nil {
		return err
	}
	s.ID, s.IsNew = id, false
	setTimes(s, now, now.Add(min(st.life.idleTimeout, st.life.maxLifetime)))
	return nil
}

// index adds a session to user's set, and returns the user's epoch.
func (st *RedisStore) index(ctx context.Context, hash, user string, deadline time.Time) (epoch int64, err error) {
	prune := st.now().Add(-st.life.maxLifetime)
	return indexScript.Run(ctx, st.client, []string{st.userSetKey(user), st.epochKey(user)},
		hash, deadline.UnixMilli(), prune.UnixMilli(), st.keepUserKeys()).Int64()
}

// reindex moves a live session from oldUser's set to newUser's ("" for
// none), and gives it newUser's epoch.
func (st *RedisStore) reindex(ctx context.Context, hash, oldUser, newUser string, deadline time.Time) error {
	if oldUser != "" {
		if err := st.client.ZRem(ctx, st.userSetKey(oldUser), hash).Err(); err != nil {
			return err
		}
	}
	if newUser == "" {
		return nil
	}
	epoch, err := st.index(ctx, hash, newUser, deadline)
	if err != nil {
		return err
	}
	return epochScript.Run(ctx, st.client, []string{st.sessionKey(hash)}, epoch).Err()
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
// sessions that Redis has deleted and whose deadline has passed: a member
// whose session is not there yet (a login between its two writes) stays.
func (st *RedisStore) UserSessions(ctx context.Context, user, currentID string) ([]sessionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	members, err := st.client.ZRangeWithScores(ctx, st.userSetKey(user), 0, -1).Result()
	if err != nil {
		return nil, st.failed(ctx, "list sessions", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(members))
	var epoch *redis.StringCmd
	if _, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			cmds[i] = p.HGetAll(ctx, st.sessionKey(m.Member.(string)))
		}
		epoch = p.Get(ctx, st.epochKey(user))
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, st.failed(ctx, "list sessions", err)
	}
	userEpoch, _ := epoch.Int64() // redis.Nil: 0
	now, current := st.now(), idHash(currentID)
	var list []sessionInfo
	var gone []any
	for i, cmd := range cmds {
		hash := members[i].Member.(string)
		if len(cmd.Val()) == 0 {
			if int64(members[i].Score) < now.UnixMilli() {
				gone = append(gone, hash) // ended, and deleted by Redis
			}
			continue
		}
		rec, err := decodeRecord(cmd.Val())
		if err != nil || rec.user != user {
			gone = append(gone, hash) // not the user's any more
			continue
		}
		if expires := st.expiresAt(rec); now.Before(expires) && rec.epoch == userEpoch {
			list = append(list, sessionInfo{
				Handle:    hash,
				Created:   rec.created,
				LastSeen:  rec.lastSeen,
				Expires:   expires,
				UserAgent: rec.userAgent,
				Current:   currentID != "" && hash == current,
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

// DeleteUserSession deletes the session of user whose handle is handle: a
// script checks whose it is and deletes it in one step; then the session
// leaves the user's set (another slot, so another command: if it fails, the
// member lists nothing, and goes once its deadline has passed).
func (st *RedisStore) DeleteUserSession(ctx context.Context, user, handle string) (bool, error) {
	if len(handle) != 2*sha256.Size || strings.Trim(handle, "0123456789abcdef") != "" {
		return false, nil // not a handle: no session has it
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	deleted, err := revokeScript.Run(ctx, st.client, []string{st.sessionKey(handle)}, user).Bool()
	if err != nil {
		return false, st.failed(ctx, "delete a session of the user", err)
	}
	if err := st.client.ZRem(ctx, st.userSetKey(user), handle).Err(); err != nil {
		return false, st.failed(ctx, "delete a session of the user", err)
	}
	return deleted, nil
}

// DeleteUserSessions deletes every session of user except the one whose id is
// exceptID ("" deletes them all). It first moves the user's epoch on, which
// ends every session issued before, even one that a lost write left out of
// the user's set; then it deletes the listed ones, and gives the kept one
// the new epoch.
func (st *RedisStore) DeleteUserSessions(ctx context.Context, user, exceptID string) error {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	keep := ""
	if exceptID != "" {
		keep = idHash(exceptID)
	}
	res, err := endAllScript.Run(ctx, st.client, []string{st.userSetKey(user), st.epochKey(user)}, st.keepUserKeys(), keep).Slice()
	if err != nil {
		return st.failed(ctx, "delete the user's sessions", err)
	}
	epoch, _ := res[0].(int64)
	gone, _ := res[1].([]any)
	if _, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, hash := range gone {
			// One DEL per key: in a Cluster they live on different nodes.
			p.Del(ctx, st.sessionKey(hash.(string)))
		}
		if keep != "" {
			epochScript.Eval(ctx, p, []string{st.sessionKey(keep)}, epoch) // EVAL: a pipeline cannot fall back from EVALSHA
		}
		return nil
	}); err != nil {
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
