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
// set per user lists the user's sessions:
//
//	<prefix>session:<sha256(id)>          an anonymous session: a hash of
//	                                       user (""), data, created, seen, ua,
//	                                       deadline, idle; TTL: its deadline
//	<prefix>session:{<tag>}:<sha256(id)>  a signed-in session: the same
//	<prefix>user:{<tag>}:<name>           the sha256(id) of each of the
//	                                       user's sessions, by deadline
//	<prefix>anonymous                     new anonymous sessions in this
//	                                       idle-timeout window
//
// A signed-in session's id starts with its user's tag (userTag), as in
// "<tag>.<26 random characters>", and Redis Cluster places a key by the part
// in {braces}: a user's sessions and set share one slot, and one script
// writes them together. A session is created and listed at once, "sign out
// everywhere" deletes every listed session at once, and a read is one
// command: no session can exist that its user's set does not list.
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

// userTag is the tag of a user's keys: 4 hex digits of the SHA-256 of the
// name. It places the keys (see RedisStore), and need not be unique: users
// who share a tag share a slot, nothing else. It tells the cookie's holder
// next to nothing about the name, and that holder can ask /me anyway.
func userTag(user string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:2])
}

// sessionKey names the hash of the session whose id is id: in its user's
// slot when the id starts with a tag, anywhere when it is anonymous.
func (st *RedisStore) sessionKey(id string) string {
	if tag, _, signedIn := strings.Cut(id, "."); signedIn {
		return st.userSessionKey(tag, idHash(id))
	}
	return st.prefix + "session:" + idHash(id)
}

func (st *RedisStore) userSessionKey(tag, hash string) string {
	return st.prefix + "session:{" + tag + "}:" + hash
}
func (st *RedisStore) userSetKey(user string) string {
	return st.prefix + "user:{" + userTag(user) + "}:" + user
}
func (st *RedisStore) anonymousKey() string { return st.prefix + "anonymous" }

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

	fields, err := st.client.HGetAll(ctx, key).Result()
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
	// A signed-in session outside its user's slot (written by an earlier
	// layout of this store) is in no set that sign-out everywhere reads.
	if rec.user != "" && !strings.HasPrefix(id, userTag(rec.user)+".") {
		return s, nil
	}
	if r.Method != http.MethodHead && now.Sub(rec.lastSeen) >= st.life.touchEvery { // HEAD changes nothing
		_, found, err := st.update(ctx, key, rec.user, now, "seen", now.UnixMilli())
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
	userAgent         string
}

func decodeRecord(fields map[string]string) (record, error) {
	var ms [4]int64
	var errs []error
	for i, name := range []string{"created", "seen", "deadline", "idle"} {
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
		idle: time.Duration(ms[3]) * time.Millisecond, userAgent: fields["ua"]}, nil
}

// The writes are Lua scripts, because each must check and write in one step:
// a check from Go and a write after it would leave a moment in which a logout
// on another instance deletes the key and the write brings it back. Redis
// runs a script whole, with no other command in between. Each script touches
// one Cluster slot only (a user's keys share their tag), so that they also
// run on a Redis Cluster.
var (
	// createScript stores a new session, never over an existing one (like
	// SET NX), and adds it to its user's set. Of the set's ten members with
	// the earliest deadlines, it drops those whose session Redis has deleted
	// (no clock decides): ten at most, so that a login's work does not grow
	// with the user's sessions, yet the set shrinks as fast as logins add to
	// it. It keeps the set
	// for at least keep ms: twice the max lifetime, so that it outlives
	// every session it lists unless clocks are a max lifetime apart. KEYS:
	// the session, then the user's set (none for an anonymous session);
	// ARGV: the TTL (ms), the session's hash, its absolute deadline (Unix
	// ms), the name of the user's sessions' keys up to the hash (see
	// endAllScript), keep, then field, value, ...
	//
	// A script that fails halfway keeps what it wrote before: the set goes
	// first, so that a failure leaves no session that the set does not list.
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if KEYS[2] then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, 9)) do
    if redis.call('EXISTS', ARGV[4] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
  end
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

	// updateScript updates a live session of the given user and sets its
	// TTL anew, from the deadlines stored in it (or the current flags', when
	// shorter); a deleted or expired one stays deleted (like SET XX), and
	// another user's is left alone. It returns the session's user, or nil
	// when there is no session. KEYS[1]: the session; ARGV: the user, now
	// (Unix ms), the idle timeout and the max lifetime (ms), then field,
	// value, ...
	updateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'user', 'created', 'deadline', 'idle')
if not f[1] or f[1] ~= ARGV[1] then return f[1] end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
local now = tonumber(ARGV[2])
local deadline = math.min(tonumber(f[3]) or 0, (tonumber(f[2]) or 0) + tonumber(ARGV[4]))
local idle = math.min(tonumber(f[4]) or 0, tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(deadline, now + idle) - now))
return f[1]`)

	// endAllScript deletes every session in the user's set but the one to
	// keep, and takes them out of the set. The sessions' keys are not in
	// KEYS, as Redis would like, because the set names them: they share the
	// set's tag, hence its Cluster slot, so the script can reach them on any
	// topology. KEYS[1]: the user's set; ARGV: the hash of the session to
	// keep ("" none), the name of the user's sessions' keys up to the hash.
	endAllScript = redis.NewScript(`
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[1] then
    redis.call('DEL', ARGV[2] .. m)
    redis.call('ZREM', KEYS[1], m)
  end
end
return 0`)

	// revokeScript deletes a session if it is the user's, takes it out of
	// the user's set, and says whether it deleted it. KEYS: the session, the
	// user's set; ARGV: the user, the session's hash.
	revokeScript = redis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[2])
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

// update writes fields of the live session of user at key, and counts its
// idle deadline from now, in one command. found is false when the session is
// gone (deleted or expired): it is not recreated. A session whose user is
// not user is left as it is, and oldUser says whose it is.
func (st *RedisStore) update(ctx context.Context, key, user string, now time.Time, fieldValues ...any) (oldUser string, found bool, err error) {
	args := append([]any{user, now.UnixMilli(), st.life.idleTimeout.Milliseconds(), st.life.maxLifetime.Milliseconds()}, fieldValues...)
	oldUser, err = updateScript.Run(ctx, st.client, []string{key}, args...).Text()
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
		oldUser, found, err := st.update(ctx, st.sessionKey(s.ID), user, now, "data", data, "seen", now.UnixMilli())
		if err != nil {
			return st.failed(ctx, "update session", err)
		}
		if found && oldUser != user {
			// A session changes hands only under a new id (the handlers
			// call RenewID first), which also puts it in its user's slot.
			return errors.New("update session: its user changed under the same id")
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
	keys := []string{st.sessionKey(id)}
	if user != "" {
		id = userTag(user) + "." + id
		keys = []string{st.sessionKey(id), st.userSetKey(user)}
	}
	deadline := now.Add(st.life.maxLifetime)
	agent := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(agent) > maxUserAgent {
		agent = strings.ToValidUTF8(agent[:maxUserAgent], "")
	}
	ttl := min(st.life.idleTimeout, st.life.maxLifetime).Milliseconds()
	stored, err := createScript.Run(ctx, st.client, keys, max(1, ttl), idHash(id), deadline.UnixMilli(), st.userSessionKey(userTag(user), ""), 2*st.life.maxLifetime.Milliseconds(),
		"user", user, "data", data, "created", now.UnixMilli(), "seen", now.UnixMilli(), "ua", agent,
		"deadline", deadline.UnixMilli(), "idle", st.life.idleTimeout.Milliseconds()).Int()
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
	setTimes(s, now, st.life.expiresAt(now, now))
	return nil
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
	user, _ := s.Values[userKey].(string)
	if _, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, st.sessionKey(s.ID))
		if user != "" {
			p.ZRem(ctx, st.userSetKey(user), idHash(s.ID))
		}
		return nil
	}); err != nil {
		return st.failed(ctx, "delete session", err)
	}
	return nil
}

// UserSessions lists the live sessions of user, the current one (currentID's)
// first, then the most recently used. It drops from the user's set the
// sessions that Redis has deleted at their deadline.
func (st *RedisStore) UserSessions(ctx context.Context, user, currentID string) ([]sessionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	members, err := st.client.ZRangeWithScores(ctx, st.userSetKey(user), 0, -1).Result()
	if err != nil {
		return nil, st.failed(ctx, "list sessions", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(members))
	if _, err := st.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			cmds[i] = p.HGetAll(ctx, st.userSessionKey(userTag(user), m.Member.(string)))
		}
		return nil
	}); err != nil {
		return nil, st.failed(ctx, "list sessions", err)
	}
	now, current := st.now(), idHash(currentID)
	var list []sessionInfo
	var gone []any
	for i, cmd := range cmds {
		hash := members[i].Member.(string)
		if len(cmd.Val()) == 0 {
			gone = append(gone, hash) // ended, and deleted by Redis
			continue
		}
		rec, err := decodeRecord(cmd.Val())
		if err != nil || rec.user != user {
			gone = append(gone, hash) // not the user's any more
			continue
		}
		if expires := st.expiresAt(rec); now.Before(expires) {
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
// script checks whose it is, deletes it and takes it out of the user's set
// in one step.
func (st *RedisStore) DeleteUserSession(ctx context.Context, user, handle string) (bool, error) {
	if len(handle) != 2*sha256.Size || strings.Trim(handle, "0123456789abcdef") != "" {
		return false, nil // not a handle: no session has it
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	deleted, err := revokeScript.Run(ctx, st.client, []string{st.userSessionKey(userTag(user), handle), st.userSetKey(user)}, user, handle).Bool()
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
	keep := ""
	if exceptID != "" {
		keep = idHash(exceptID)
	}
	if err := endAllScript.Run(ctx, st.client, []string{st.userSetKey(user)}, keep, st.userSessionKey(userTag(user), "")).Err(); err != nil {
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
