package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// Tests of what step 5 adds: sessions in a real Redis, which the tests start
// themselves (a redis-server on a unix socket in a temporary folder, without
// persistence) so that they can stop it and start it again. No fake Redis:
// what this step is about is how the app behaves with the real one.

// redisServer is one redis-server process that a test controls.
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	sock string
	URL  string // unix:///…/redis.sock, for -redis

	mu  sync.Mutex
	cmd *exec.Cmd
}

// startRedis starts a redis-server for the test and stops it at its end. A
// missing redis-server skips the test, loudly, and fails it when CI=true.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin := needRedisBinary(t, "redis-server")
	// Not t.TempDir(): a unix socket's path must stay under about 100
	// bytes, and t.TempDir's holds the test's name.
	dir, err := os.MkdirTemp("", "redis-")
	if err != nil {
		t.Fatal(err)
	}
	rs := &redisServer{t: t, bin: bin, dir: dir, sock: filepath.Join(dir, "redis.sock")}
	rs.URL = "unix://" + rs.sock
	t.Cleanup(func() {
		rs.stop()
		os.RemoveAll(dir)
	})
	rs.start()
	return rs
}

// needRedisBinary returns the path of a Redis program (redis-server,
// redis-cli). A missing one skips the test, loudly, and fails it when
// CI=true.
func needRedisBinary(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not installed (Debian, Ubuntu: sudo apt-get install redis-server): step 5's tests need a real Redis"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("!!! SKIPPED: " + msg)
	}
	return bin
}

// start starts redis-server (again) and waits until it answers PING.
func (rs *redisServer) start() {
	rs.t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cmd != nil {
		rs.t.Fatal("redis-server is running already")
	}
	cmd := exec.Command(rs.bin,
		"--port", "0", // no TCP, the socket only
		"--unixsocket", rs.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", // no persistence: a restart forgets every key
		"--dir", rs.dir, "--logfile", filepath.Join(rs.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		rs.t.Fatalf("start redis-server: %v", err)
	}
	rs.cmd = cmd
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if pong(rs.sock) {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(rs.dir, "redis.log"))
			rs.t.Fatalf("redis-server did not answer within 10s:\n%s", log)
		}
	}
}

// pong says whether a Redis answers PING on the unix socket sock.
func pong(sock string) bool {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 7)
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	_, err = io.ReadFull(c, buf)
	return err == nil && string(buf) == "+PONG\r\n"
}

// stop kills redis-server, if it runs: without persistence, everything it
// held is gone, as after a crash or a restart of a Redis without persistence.
func (rs *redisServer) stop() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cmd == nil {
		return
	}
	rs.cmd.Process.Kill()
	rs.cmd.Wait()
	rs.cmd = nil
	os.Remove(rs.sock)
}

// client is a go-redis client of this server, closed at the end of the test.
func (rs *redisServer) client() redis.UniversalClient {
	rs.t.Helper()
	c, err := connectRedis(rs.URL)
	if err != nil {
		rs.t.Fatal(err)
	}
	rs.t.Cleanup(func() { c.Close() })
	return c
}

// redisByDB is the redis-server of each -db path that the tests start
// servers on: a restarted server, or a second instance, on the same -db
// finds the same sessions, as in one deployment.
var redisByDB = struct {
	sync.Mutex
	m map[string]*redisServer
}{m: map[string]*redisServer{}}

// withRedis adds -redis to args, unless they name one already: the
// redis-server of their -db.
func withRedis(t testing.TB, args []string) []string {
	t.Helper()
	db := ""
	for i, a := range args {
		if a == "-redis" || strings.HasPrefix(a, "-redis=") {
			return args
		}
		if a == "-db" && i+1 < len(args) {
			db = args[i+1]
		}
	}
	redisByDB.Lock()
	rs, ok := redisByDB.m[db]
	redisByDB.Unlock()
	if !ok {
		rs = startRedis(t)
		redisByDB.Lock()
		redisByDB.m[db] = rs
		redisByDB.Unlock()
		t.Cleanup(func() {
			redisByDB.Lock()
			delete(redisByDB.m, db)
			redisByDB.Unlock()
		})
	}
	return append(args, "-redis", rs.URL)
}

// redisOf is the redis-server that the servers on -db path db use.
func redisOf(t testing.TB, db string) *redisServer {
	t.Helper()
	redisByDB.Lock()
	defer redisByDB.Unlock()
	rs, ok := redisByDB.m[db]
	if !ok {
		t.Fatalf("no server was started on -db %s", db)
	}
	return rs
}

// commandCounter is a go-redis hook that counts (and names) the commands a
// client sends, so that a test can say "a read is one command" and a
// benchmark can report commands per request.
type commandCounter struct {
	mu    sync.Mutex
	names []string
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.add(cmd)
		}
		return next(ctx, cmds)
	}
}

func (c *commandCounter) add(cmd redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, strings.ToUpper(cmd.Name()))
}

// take returns the commands counted since the last take, and forgets them.
func (c *commandCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := c.names
	c.names = nil
	return names
}

// allKeys is every key in Redis, with what it holds as text.
func allKeys(t testing.TB, rdb redis.UniversalClient) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "hash":
			out[key] = fmt.Sprint(rdb.HGetAll(ctx, key).Val())
		case "zset":
			out[key] = fmt.Sprint(rdb.ZRangeWithScores(ctx, key, 0, -1).Val())
		case "string":
			out[key] = rdb.Get(ctx, key).Val() // a counter: the anonymous sessions
		case "none":
			// expired between SCAN and TYPE
		default:
			t.Errorf("key %q is a %s: the store writes only hashes, sorted sets and counters", key, typ)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pttl is the TTL that Redis holds for key; a key without one fails the test.
func pttl(t testing.TB, rdb redis.UniversalClient, key string) time.Duration {
	t.Helper()
	d := must(rdb.PTTL(context.Background(), key).Result())
	if d < 0 {
		t.Fatalf("key %q has no TTL (PTTL %v)", key, d)
	}
	return d
}

// wantTTL checks that key expires in want, less the little real time that
// the test took since it was written.
func wantTTL(t testing.TB, rdb redis.UniversalClient, key string, want time.Duration) {
	t.Helper()
	if got := pttl(t, rdb, key); got > want || got < want-5*time.Second {
		t.Errorf("TTL of %q = %v, want %v", key, got, want)
	}
}

// waitFor polls cond until it holds, for at most 10 seconds: go-redis probes
// a server it lost once a second, Redis expires keys within a fraction of one.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

// Every key the store writes has a TTL that matches the deadlines: a session
// until the earlier of its deadlines, a user's set for twice the max
// lifetime, the count of anonymous sessions for an idle timeout.
func TestEveryKeyHasItsTTL(t *testing.T) {
	st, clock := newTestStore(t, 10*time.Minute, time.Hour)
	anon := newSession(t, st, map[any]any{visitsKey: 1})
	alice := newSession(t, st, map[any]any{userKey: "alice"})
	clock.advance(5 * time.Minute)
	// A save counts the idle deadline from now, as a touch does.
	s := must(st.Get(requestWith(anon), cookieName))
	s.Values[visitsKey] = 2
	must0(t, st.Save(requestWith(anon), httptest.NewRecorder(), s))
	alice2 := newSession(t, st, map[any]any{userKey: "alice"})

	must0(t, st.DeleteUserSessions(t.Context(), "bob", "")) // writes no key
	keys := allKeys(t, st.client)
	if len(keys) != 5 {
		t.Fatalf("Redis holds %d keys, want 3 sessions, alice's set and the anonymous count:\n%v", len(keys), keys)
	}
	for key := range keys {
		pttl(t, st.client, key)
	}
	// Each was just written with the idle timeout to go (the test's clock
	// moves, Redis' hardly does).
	for _, ck := range []*http.Cookie{anon, alice, alice2} {
		wantTTL(t, st.client, st.sessionKey(cookieID(t, st, ck)), 10*time.Minute)
	}
	wantTTL(t, st.client, st.userSetKey("alice"), 2*time.Hour)
	wantTTL(t, st.client, st.prefix+"anonymous", 10*time.Minute)

	// Near its absolute deadline, a session's TTL is what is left of it.
	for range 6 { // used every 9 minutes, until 6 minutes before the hour
		clock.advance(9 * time.Minute)
		must(st.Get(requestWith(alice2), cookieName))
	}
	wantTTL(t, st.client, st.sessionKey(cookieID(t, st, alice2)), 6*time.Minute)
}

// cookieID is the session id that a cookie of st names.
func cookieID(t testing.TB, st *RedisStore, ck *http.Cookie) string {
	t.Helper()
	id, ok := st.cookies.readID(requestWith(ck), cookieName)
	if !ok {
		t.Fatal("the cookie does not verify")
	}
	return id
}

// Reading a session is one Redis command; only a due touch adds one. Without a valid
// cookie, Redis is not asked at all.
func TestReadIsOneCommand(t *testing.T) {
	st, clock := newTestStore(t, 30*time.Minute, 24*time.Hour)
	cmds := &commandCounter{}
	st.client.AddHook(cmds)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	clock.advance(time.Minute)
	must(st.Get(requestWith(ck), cookieName)) // the first touch loads the script into Redis
	cmds.take()
	for range 3 {
		must(st.Get(requestWith(ck), cookieName))
		if got := cmds.take(); !slices.Equal(got, []string{"HGETALL"}) {
			t.Fatalf("a read sent %v, want one HGETALL", got)
		}
	}
	clock.advance(time.Minute)
	must(st.Get(requestWith(ck), cookieName))
	if got := cmds.take(); !slices.Equal(got, []string{"HGETALL", "EVALSHA"}) {
		t.Fatalf("a read that touches sent %v, want HGETALL and one EVALSHA", got)
	}
	anon := newSession(t, st, map[any]any{visitsKey: 1})
	cmds.take()
	must(st.Get(requestWith(anon), cookieName))
	if got := cmds.take(); !slices.Equal(got, []string{"HGETALL"}) {
		t.Fatalf("an anonymous read sent %v, want one HGETALL", got)
	}
	must(st.Get(requestWith(nil), cookieName))
	must(st.Get(requestWith(&http.Cookie{Name: cookieName, Value: "forged.cookie"}), cookieName))
	if got := cmds.take(); len(got) != 0 {
		t.Fatalf("reads without a valid cookie sent %v", got)
	}
}

// A read that finds the session due for a touch after a logout deleted it
// does not bring it back: the touch updates, it never creates.
func TestTouchNeverResurrects(t *testing.T) {
	st, clock := newTestStore(t, 30*time.Minute, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	clock.advance(2 * time.Minute) // the next read touches
	s := must(st.Get(requestWith(ck), cookieName))
	must0(t, st.RenewID(requestWith(ck), must(st.Get(requestWith(ck), cookieName))))
	must0(t, updateScript.Run(t.Context(), st.client, []string{st.sessionKey(s.ID)}, time.Hour.Milliseconds(), "seen", clock.t.Add(time.Minute).UnixMilli()).Err())
	if n := countSessions(t, st); n != 0 {
		t.Fatalf("a touch after the delete left %d sessions", n)
	}
}

// Save of a session that has expired meanwhile does not bring it back: Redis
// deleted the key at the deadline, and the save only updates.
func TestSaveDoesNotReviveExpired(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	st.now = time.Now // Redis' clock decides here
	st.life.idleTimeout = 300 * time.Millisecond
	ck := newSession(t, st, nil)
	s := must(st.Get(requestWith(ck), cookieName))
	waitFor(t, "Redis to expire the session", func() bool { return countSessions(t, st) == 0 })
	s.Values[visitsKey] = 2
	must0(t, st.Save(requestWith(ck), httptest.NewRecorder(), s))
	if countSessions(t, st) != 0 {
		t.Fatal("a save after the idle deadline brought the session back")
	}
}

// Values round-trip through Redis: an int stays an int, the user comes from
// its own field (and is not in data).
func TestValuesRoundTrip(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	ck := newSession(t, st, map[any]any{userKey: "alice", visitsKey: 41})
	s := must(st.Get(requestWith(ck), cookieName))
	if v, ok := s.Values[visitsKey].(int); !ok || v != 41 {
		t.Fatalf("visits = %#v, want int 41", s.Values[visitsKey])
	}
	if u, ok := s.Values[userKey].(string); !ok || u != "alice" {
		t.Fatalf("user = %#v, want alice", s.Values[userKey])
	}
	fields := st.client.HGetAll(t.Context(), st.sessionKey(s.ID)).Val()
	if fields["user"] != "alice" || strings.Contains(fields["data"], "alice") {
		t.Fatalf("the hash holds %v", fields)
	}
	// A session changes hands only under a new id (RenewID): a save under
	// the same id writes the values, never the user.
	for _, user := range []any{nil, "bob"} {
		s.Values[userKey] = user
		must0(t, st.Save(requestWith(ck), httptest.NewRecorder(), s))
		if got := must(st.Get(requestWith(ck), cookieName)); got.Values[userKey] != "alice" || st.client.ZCard(t.Context(), st.userSetKey("alice")).Val() != 1 {
			t.Fatalf("after a save that makes alice's session %v's under the same id: %v", user, got.Values)
		}
	}
}

func TestUserSessionsAndDeleteUserSessions(t *testing.T) {
	st, clock := newTestStore(t, time.Hour, 24*time.Hour)
	login := func(user, agent string) *http.Cookie {
		r := httptest.NewRequest("POST", "/login", nil)
		r.Header.Set("User-Agent", agent)
		s := must(st.New(r, cookieName))
		s.Values[userKey] = user
		w := httptest.NewRecorder()
		must0(t, st.Save(r, w, s))
		clock.advance(time.Second)
		return w.Result().Cookies()[0]
	}
	laptop := login("alice", "Laptop/1.0")
	phone := login("alice", "Phone/2.0")
	bobs := login("bob", "Bob/1.0")
	newSession(t, st, map[any]any{visitsKey: 1}) // anonymous

	current := must(st.Get(requestWith(phone), cookieName))
	list := must(st.UserSessions(t.Context(), "alice", current.ID))
	if len(list) != 2 {
		t.Fatalf("alice has %d sessions listed, want 2: %+v", len(list), list)
	}
	if list[0].UserAgent != "Laptop/1.0" || list[0].Current || list[1].UserAgent != "Phone/2.0" || !list[1].Current {
		t.Fatalf("list = %+v, want the laptop, then the phone (current)", list)
	}
	if list[0].Created.IsZero() || list[0].LastSeen.Before(list[0].Created) {
		t.Fatalf("times of a listed session: %+v", list[0])
	}

	// One, by its handle: only the user's own.
	laptopHandle := sessionHandle(must(st.Get(requestWith(laptop), cookieName)).ID)
	if list[0].Handle != laptopHandle || list[1].Handle != sessionHandle(current.ID) {
		t.Fatalf("handles %q, %q: want the sessions' (%q, %q)", list[0].Handle, list[1].Handle, laptopHandle, sessionHandle(current.ID))
	}
	bobsHandle := sessionHandle(must(st.Get(requestWith(bobs), cookieName)).ID)
	if found := must(st.DeleteUserSession(t.Context(), "alice", bobsHandle)); found {
		t.Fatal("alice deleted bob's session by its handle")
	}
	if found := must(st.DeleteUserSession(t.Context(), "alice", laptopHandle)); !found {
		t.Fatal("DeleteUserSession did not find the laptop's session")
	}
	if s := must(st.Get(requestWith(laptop), cookieName)); !s.IsNew {
		t.Fatal("the laptop's session survived DeleteUserSession")
	}
	if err := st.client.ZScore(t.Context(), st.userSetKey("alice"), laptopHandle).Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("the revoked session is still in alice's set (ZSCORE: %v)", err)
	}
	if found := must(st.DeleteUserSession(t.Context(), "alice", laptopHandle)); found {
		t.Fatal("DeleteUserSession found a session it had deleted")
	}

	// Everything but the current one.
	must0(t, st.DeleteUserSessions(t.Context(), "alice", current.ID))
	if s := must(st.Get(requestWith(laptop), cookieName)); !s.IsNew {
		t.Fatal("the laptop's session survived DeleteUserSessions")
	}
	if s := must(st.Get(requestWith(phone), cookieName)); s.IsNew {
		t.Fatal("DeleteUserSessions deleted the session it was told to keep")
	}
	// Everything.
	must0(t, st.DeleteUserSessions(t.Context(), "alice", ""))
	if s := must(st.Get(requestWith(phone), cookieName)); !s.IsNew {
		t.Fatal("the current session survived DeleteUserSessions(\"\")")
	}
	if s := must(st.Get(requestWith(bobs), cookieName)); s.IsNew {
		t.Fatal("deleting alice's sessions deleted bob's")
	}
	if n := countSessions(t, st); n != 2 {
		t.Fatalf("%d sessions left, want bob's and the anonymous one", n)
	}
}

// A user's set forgets the sessions that have ended, once Redis has deleted
// them, at the next sign-in: never a live one, whatever the clock of the
// instance that signs in. A listing shows only the live ones.
func TestUserSetIsPruned(t *testing.T) {
	st, clock := newTestStore(t, time.Hour, time.Hour)
	clock.advance(-50 * time.Minute)
	old := newSession(t, st, map[any]any{userKey: "alice"}) // ends 10 minutes from now
	clock.advance(50 * time.Minute)
	idle := newSession(t, st, map[any]any{userKey: "alice"})
	live := newSession(t, st, map[any]any{userKey: "alice"})
	members := func() int64 { return st.client.ZCard(t.Context(), st.userSetKey("alice")).Val() }

	st.client.Del(t.Context(), st.sessionKey(cookieID(t, st, idle))) // as Redis does at the idle deadline
	if list := must(st.UserSessions(t.Context(), "alice", "")); len(list) != 2 {
		t.Fatalf("UserSessions listed %d, want old and live", len(list))
	}
	newSession(t, st, map[any]any{userKey: "alice"})
	if members() != 3 {
		t.Fatalf("after a sign-in the set holds %d, want old, live and the new one", members())
	}
	clock.advance(15 * time.Minute) // old is past its absolute deadline; Redis still has it
	if list := must(st.UserSessions(t.Context(), "alice", cookieID(t, st, live))); len(list) != 2 || list[0].Current == list[1].Current {
		t.Fatalf("UserSessions listed %+v, want live (current) and the new one", list)
	}
	newSession(t, st, map[any]any{userKey: "alice"})
	if members() != 4 {
		t.Fatalf("after a sign-in the set holds %d, want 4: old stays while Redis has it", members())
	}
	st.client.Del(t.Context(), st.sessionKey(cookieID(t, st, old))) // as Redis does at its deadline
	newSession(t, st, map[any]any{userKey: "alice"})
	if members() != 4 {
		t.Fatalf("after a sign-in the set holds %d, want 4: old gone, one more", members())
	}
	if s := must(st.Get(requestWith(old), cookieName)); !s.IsNew {
		t.Error("a session past its absolute deadline is still served")
	}
}

// A new session's work does not grow with the user's sessions: it prunes
// at most ten members of the user's set, those with the earliest
// deadlines, whatever the set holds (issue 22: a login walked all 3,000).
func TestNewSessionWorkIsBounded(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, time.Hour)
	members := func() int64 { return st.client.ZCard(t.Context(), st.userSetKey("alice")).Val() }
	var cookies []*http.Cookie
	for range 50 {
		cookies = append(cookies, newSession(t, st, map[any]any{userKey: "alice"}))
	}
	for _, c := range cookies {
		st.client.Del(t.Context(), st.sessionKey(cookieID(t, st, c))) // gone, still listed
	}
	newSession(t, st, map[any]any{userKey: "alice"})
	if n := members(); n != 50-10+1 {
		t.Errorf("after one more session the set holds %d, want %d: ten pruned, one added", n, 50-10+1)
	}
}

// When Redis fails, every operation of the store says so (and logs it once,
// naming no session); nobody is taken for anonymous. When Redis is back, the
// same client works again.
func TestStoreErrors(t *testing.T) {
	rs := startRedis(t)
	st, _ := newTestStoreOn(t, rs, time.Hour, 24*time.Hour)
	logs := &syncBuffer{}
	st.logger = slog.New(slog.NewTextHandler(logs, nil))
	ck := newSession(t, st, map[any]any{userKey: "alice"})
	s := must(st.Get(requestWith(ck), cookieName))
	rs.stop()

	if got, err := st.Get(requestWith(ck), cookieName); err == nil || got.Values[userKey] != nil {
		t.Errorf("Get with Redis down: values %v, err %v; want an error, and nobody signed in", got.Values, err)
	}
	if err := st.Save(requestWith(ck), httptest.NewRecorder(), s); err == nil {
		t.Error("Save with Redis down returned no error")
	}
	w := httptest.NewRecorder()
	if err := st.Save(requestWith(nil), w, must(st.New(requestWith(nil), cookieName))); err == nil || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("Save of a new session with Redis down: %v, Set-Cookie %q; want an error and no cookie", err, w.Header().Get("Set-Cookie"))
	}
	if _, err := st.UserSessions(t.Context(), "alice", s.ID); err == nil {
		t.Error("UserSessions with Redis down returned no error")
	}
	if err := st.DeleteUserSessions(t.Context(), "alice", ""); err == nil {
		t.Error("DeleteUserSessions with Redis down returned no error")
	}
	if err := st.Ping(t.Context()); err == nil {
		t.Error("Ping with Redis down returned no error")
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 5 {
		t.Errorf("%d error lines for 5 failures:\n%s", n, logs)
	}
	for _, secret := range []string{ck.Value, s.ID, idHash(s.ID)} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log names the session:\n%s", logs)
		}
	}

	rs.start()
	waitFor(t, "the store to reach Redis again", func() bool { return st.Ping(t.Context()) == nil })
	// Without persistence Redis forgot the session: anonymous, not an error.
	if got := must(st.Get(requestWith(ck), cookieName)); !got.IsNew {
		t.Fatal("a session survived a restart of Redis without persistence")
	}
	ck2 := newSession(t, st, map[any]any{userKey: "alice"})
	if got := must(st.Get(requestWith(ck2), cookieName)); got.Values[userKey] != "alice" {
		t.Fatal("a new session after the restart does not work")
	}
}

// Many goroutines create, read, update, renew and delete sessions at once:
// no error, no mixing.
func TestStoreConcurrency(t *testing.T) {
	st, _ := newTestStore(t, time.Hour, 24*time.Hour)
	st.now = time.Now
	st.life.touchEvery = 0 // every read also writes: the worst case
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			ck := newSession(t, st, map[any]any{visitsKey: 0, userKey: fmt.Sprintf("user-%d", g%4)})
			for i := 1; i <= 20; i++ {
				s, err := st.Get(requestWith(ck), cookieName)
				if err != nil {
					t.Errorf("goroutine %d: Get: %v", g, err)
					return
				}
				if s.IsNew || s.Values[visitsKey] != i-1 {
					t.Errorf("goroutine %d: read %v (new=%v), want visits %d", g, s.Values[visitsKey], s.IsNew, i-1)
					return
				}
				s.Values[visitsKey] = i
				if i%7 == 0 { // now and then a new id, as at login
					if err := st.RenewID(requestWith(ck), s); err != nil {
						t.Errorf("goroutine %d: RenewID: %v", g, err)
						return
					}
				}
				w := httptest.NewRecorder()
				if err := st.Save(requestWith(ck), w, s); err != nil {
					t.Errorf("goroutine %d: Save: %v", g, err)
					return
				}
				if c := w.Result().Cookies(); len(c) == 1 {
					ck = c[0]
				}
			}
		})
	}
	wg.Wait()
	if n := countSessions(t, st); n != 32 {
		t.Errorf("%d sessions left, want 32 (one per goroutine)", n)
	}
	for u := range 4 {
		if list := must(st.UserSessions(t.Context(), fmt.Sprintf("user-%d", u), "")); len(list) != 8 {
			t.Errorf("user-%d has %d sessions listed, want 8", u, len(list))
		}
	}
}

// A Redis URL says which client to make, and every parameter it holds takes
// effect; one that would be ignored, or would read sessions from a replica,
// is refused with a message that says which.
func TestConnectRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		kind    string   // single, sentinel or cluster
		addrs   []string // single and cluster
		db      int
		tls     bool
		check   func(*redis.Options) bool        // single and sentinel
		cluster func(*redis.ClusterOptions) bool // cluster
		bad     string                           // in the error
	}{
		{url: "redis://localhost:6379/0", kind: "single", addrs: []string{"localhost:6379"},
			check: func(o *redis.Options) bool { return o.ContextTimeoutEnabled }},
		{url: "redis://:pw@cache.example:6380/2", kind: "single", addrs: []string{"cache.example:6380"}, db: 2},
		{url: "rediss://cache.example", kind: "single", addrs: []string{"cache.example:6379"}, tls: true},
		{url: "unix:///run/redis/redis.sock", kind: "single", addrs: []string{"/run/redis/redis.sock"}},
		{url: "redis://localhost/?pool_size=7&client_name=app", kind: "single", addrs: []string{"localhost:6379"},
			check: func(o *redis.Options) bool { return o.PoolSize == 7 && o.ClientName == "app" }},
		{url: "redis://s1:26379?master_name=mymaster&addr=s2:26379", kind: "sentinel",
			check: func(o *redis.Options) bool { return o.ContextTimeoutEnabled }},
		{url: "redis://s1:26379/3?master_name=m&client_name=app&dialer_retries=4&max_retries=2", kind: "sentinel", db: 3,
			check: func(o *redis.Options) bool { return o.ClientName == "app" && o.DialerRetries == 4 && o.MaxRetries == 2 }},
		{url: "redis://n1:6379?addr=n2:6379&addr=n3:6379", kind: "cluster", addrs: []string{"n1:6379", "n2:6379", "n3:6379"},
			cluster: func(o *redis.ClusterOptions) bool {
				return o.ClusterStateReloadInterval == time.Second && o.ContextTimeoutEnabled
			}},
		{url: "rediss://n1:6379?addr=n2:6379", kind: "cluster", addrs: []string{"n1:6379", "n2:6379"}, tls: true},
		{url: "redis://n1:6379/0?addr=n1:6379&max_redirects=5&min_retry_backoff=20ms&client_name=app", kind: "cluster", addrs: []string{"n1:6379", "n1:6379"},
			cluster: func(o *redis.ClusterOptions) bool {
				return o.MaxRedirects == 5 && o.MinRetryBackoff == 20*time.Millisecond && o.ClientName == "app"
			}},
		{url: "http://localhost", bad: "scheme"},
		{url: "redis://localhost/?no_such_option=1", bad: "no_such_option"},
		{url: "redis://s1:26379?master_name=m&no_such_option=1", bad: "no_such_option"},
		{url: "redis://n1:6379?addr=n2:6379&no_such_option=1", bad: "no_such_option"},
		{url: "redis://user:secret-pw@%zz", bad: "not a URL"},
		{url: "redis://n1:6379?addr=n2:6379&read_only=true", bad: "read_only"},
		{url: "redis://n1:6379?addr=n2:6379&route_by_latency=true", bad: "route_by_latency"},
		{url: "redis://n1:6379?addr=n2:6379&route_randomly=true", bad: "route_randomly"},
		{url: "redis://s1:26379?master_name=m&replica_only=true", bad: "replica_only"},
		{url: "redis://s1:26379?master_name=m&route_randomly=true", bad: "route_randomly"},
		{url: "redis://s1:26379?master_name=m&use_disconnected_replicas=true", bad: "use_disconnected_replicas"},
		{url: "redis://localhost?context_timeout_enabled=false", bad: "context_timeout_enabled"},
		{url: "redis://n1:6379/2?addr=n2:6379", bad: "database 0 only"},
		{url: "redis://n1:6379?addr=n2:6379&db=1", bad: "db"},
		{url: "redis://n1:6379?cluster=true", bad: "cluster"}, // a Cluster is named by its nodes (addr=)
	} {
		client, err := connectRedis(tc.url)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%s: error %v, want one that says %q", tc.url, err, tc.bad)
			} else if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("%s: the error repeats the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		defer client.Close()
		var kind string
		var addrs []string
		db, tls, ok := 0, false, true
		switch c := client.(type) {
		case *redis.ClusterClient: // ClusterOptions has no DB: a Cluster has database 0 only
			o := c.Options()
			kind, addrs, tls, ok = "cluster", o.Addrs, o.TLSConfig != nil, tc.cluster == nil || tc.cluster(o)
		case *redis.Client:
			o := c.Options()
			kind, addrs, db, tls, ok = "single", []string{o.Addr}, o.DB, o.TLSConfig != nil, tc.check == nil || tc.check(o)
			if o.Addr == "FailoverClient" { // go-redis' name for the master that the sentinels name
				kind, addrs = "sentinel", nil
			}
		}
		if kind != tc.kind || !slices.Equal(addrs, tc.addrs) || db != tc.db || tls != tc.tls {
			t.Errorf("%s: %s, addrs %v, db %d, tls %v", tc.url, kind, addrs, db, tls)
		}
		if !ok {
			t.Errorf("%s: a parameter did not take effect", tc.url)
		}
	}
}

func TestRedisFlagAndEnv(t *testing.T) {
	good := startRedis(t)
	missing := "unix://" + filepath.Join(t.TempDir(), "no.sock")
	env := map[string]string{"REDIS_URL": good.URL}
	ts := startServer(t, env, "-redis", missing)
	wantStatus(t, newClient(t, ts).get("/healthz"), http.StatusServiceUnavailable)
	ts = startServer(t, env, "-redis=") // empty: the environment decides
	wantStatus(t, newClient(t, ts).get("/healthz"), http.StatusOK)

	err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "app.db"), "-redis", "redis://u:secret-pw@localhost/?bogus=1"},
		func(k string) string { return map[string]string{"SESSION_SECRET": testSecret}[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "redis URL") || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("a bad -redis: run returned %v, want an error about the URL without its password", err)
	}
}

// Two instances of the app, one Redis, one -db and one secret: a session
// made on one is good on the other, and ending it on one ends it on both.
func TestTwoInstancesShareSessions(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	a := startServer(t, env, "-db", db)
	b := startServer(t, env, "-db", db)
	signUpUsers(t, a)
	// One browser: a cookie is the host's, whatever the port, so both
	// instances get it, as they would behind a load balancer.
	onA, onB := newClient(t, a), newClient(t, b)
	onB.http.Jar = onA.http.Jar

	wantStatus(t, onA.login("alice", "wonderland"), http.StatusOK)
	if got := onB.whoami(); got != "alice" {
		t.Fatalf("signed in on A, /me on B = %q, want alice", got)
	}
	for want := 1.0; want <= 4; want++ {
		c := onA
		if int(want)%2 == 0 {
			c = onB
		}
		if got := c.get("/visits").json(t)["visits"]; got != want {
			t.Fatalf("visit %v, alternating instances, counted %v", want, got)
		}
	}
	wantStatus(t, onB.do("POST", "/logout", nil, jsonHeaders), http.StatusOK)
	if got := onA.whoami(); got != "" {
		t.Fatalf("logged out on B, /me on A = %q, want 401", got)
	}
	// A sign-up on B is a user that A knows: one database.
	wantStatus(t, newClient(t, b).signup("carol", "through-the-looking-glass"), http.StatusCreated)
	wantStatus(t, newClient(t, a).login("carol", "through-the-looking-glass"), http.StatusOK)
}

// Sign out everywhere and a password change, made on one instance, end the
// sessions that the other instance serves.
func TestLogoutAllAndPasswordAcrossInstances(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	a := startServer(t, env, "-db", db)
	b := startServer(t, env, "-db", db)
	signUpUsers(t, a)

	laptop := signInFrom(t, a, "alice", "wonderland", "Laptop/1.0")
	phone := signInFrom(t, b, "alice", "wonderland", "Phone/1.0")
	bob := signInFrom(t, b, "bob", "the-builder", "Bob/1.0")
	list := laptop.get("/sessions").json(t)["sessions"].([]any)
	if len(list) != 3 {
		t.Fatalf("/sessions on A lists %d sessions, want the sign-up's, the laptop's and the phone's (made on B)", len(list))
	}
	wantStatus(t, phone.do("POST", "/logout-all", nil, jsonHeaders), http.StatusOK)
	if got := laptop.whoami(); got != "" {
		t.Fatalf("after logout-all on B, the laptop on A is still %q", got)
	}
	if got := bob.whoami(); got != "bob" {
		t.Fatalf("alice's logout-all signed bob out")
	}

	laptop = signInFrom(t, a, "alice", "wonderland", "Laptop/1.0")
	phone = signInFrom(t, b, "alice", "wonderland", "Phone/1.0")
	wantStatus(t, laptop.changePassword("wonderland", "looking-glass"), http.StatusOK)
	if got := phone.whoami(); got != "" {
		t.Fatalf("after a password change on A, the phone on B is still %q", got)
	}
	laptop.base = b.URL // the laptop's next request lands on B
	if got := laptop.whoami(); got != "alice" {
		t.Fatalf("the session that changed the password, on B: /me = %q, want alice", got)
	}
	wantStatus(t, newClient(t, b).login("alice", "looking-glass"), http.StatusOK)
}

// With Redis down, every route that needs a session answers 503, as JSON or
// as a page, and nobody is signed in; when Redis is back, signing in works
// again without restarting the app.
func TestRedisDownFailsClosed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, map[string]string{"SESSION_SECRET": testSecret}, "-db", db)
	signUpUsers(t, ts)
	c := newClient(t, ts)
	wantStatus(t, c.login("alice", "wonderland"), http.StatusOK)
	cookie := c.sessionCookie()
	rs := redisOf(t, db)
	rs.stop()

	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/me", nil},
		{"GET", "/visits", nil},
		{"GET", "/", nil},
		{"GET", "/sessions", nil},
		{"POST", "/login", map[string]string{"username": "alice", "password": "wonderland"}},
		{"POST", "/signup", map[string]string{"username": "dave", "password": "dave-password"}},
		{"POST", "/password", map[string]string{"current_password": "wonderland", "new_password": "looking-glass"}},
		// /logout and /logout-all, which expire the cookie: TestLogoutWithRedisDown
		{"GET", "/healthz", nil},
	} {
		var r response
		if tc.body != nil {
			r = c.postJSON(tc.path, tc.body)
		} else {
			r = c.do(tc.method, tc.path, nil, jsonHeaders)
		}
		wantStatus(t, r, http.StatusServiceUnavailable)
		if msg, _ := r.json(t)["error"].(string); msg == "" {
			t.Errorf("%s %s: 503 without an error message: %s", tc.method, tc.path, r.Body)
		}
		if setCookie(r) != nil {
			t.Errorf("%s %s with Redis down set a cookie", tc.method, tc.path)
		}
	}
	page := c.do("GET", "/", nil, map[string]string{"Accept": "text/html"})
	wantStatus(t, page, http.StatusServiceUnavailable)
	if !strings.Contains(page.Header.Get("Content-Type"), "text/html") || !strings.Contains(page.Body, "temporarily unavailable") {
		t.Errorf("a browser gets no clear page with Redis down:\n%s", page.Body)
	}
	if logs := ts.logs.String(); strings.Contains(logs, cookie) || strings.Contains(logs, "wonderland") {
		t.Error("the log holds the session cookie or a password")
	}

	rs.start()
	waitFor(t, "/healthz to answer 200 again", func() bool { return c.get("/healthz").StatusCode == http.StatusOK })
	// Without persistence Redis forgot every session: signed out, not an error.
	if got := c.whoami(); got != "" {
		t.Fatalf("after a restart of Redis without persistence /me = %q, want 401", got)
	}
	wantStatus(t, c.login("alice", "wonderland"), http.StatusOK)
	if got := c.whoami(); got != "alice" {
		t.Fatalf("a fresh login after Redis came back: /me = %q", got)
	}
}

// Logout with Redis down: 503, and the browser forgets the cookie all the
// same, for JSON and a form alike (issue 12: it kept the cookie, and was
// signed in again once Redis was back).
func TestLogoutWithRedisDown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, nil, "-db", db)
	signUpUsers(t, ts)
	api, browser := newClient(t, ts), newClient(t, ts)
	wantStatus(t, api.login("alice", "wonderland"), http.StatusOK)
	wantStatus(t, browser.login("bob", "the-builder"), http.StatusOK)
	redisOf(t, db).stop()

	// Sign-out-everywhere too (issue 22: it kept the cookie).
	everywhere := newClient(t, ts)
	everywhere.http.Jar.SetCookies(must(url.Parse(ts.URL)), api.http.Jar.Cookies(must(url.Parse(ts.URL))))
	for name, r := range map[string]response{
		"JSON":       api.do("POST", "/logout", nil, jsonHeaders),
		"form":       browser.postForm("/logout", url.Values{}),
		"logout-all": everywhere.do("POST", "/logout-all", nil, jsonHeaders),
	} {
		wantStatus(t, r, http.StatusServiceUnavailable)
		wantCookieForgotten(t, r.Response, name+" logout with Redis down")
	}
	for name, c := range map[string]*client{"alice's client": api, "bob's browser": browser, "alice's other client": everywhere} {
		if c.sessionCookie() != "" {
			t.Errorf("%s still holds its session cookie after a logout with Redis down", name)
		}
	}
}

// The app starts while Redis is down, says so, answers 503, and recovers by
// itself.
func TestStartsWithRedisDown(t *testing.T) {
	rs := startRedis(t)
	rs.stop()
	ts := startServer(t, nil, "-redis", rs.URL)
	if !strings.Contains(ts.logs.String(), `level=WARN msg="redis is unreachable`) {
		t.Errorf("no warning about Redis at start:\n%s", ts.logs)
	}
	c := newClient(t, ts)
	wantStatus(t, c.get("/healthz"), http.StatusServiceUnavailable)
	wantStatus(t, c.signup("alice", "wonderland"), http.StatusServiceUnavailable)
	rs.start()
	waitFor(t, "/healthz to answer 200", func() bool { return c.get("/healthz").StatusCode == http.StatusOK })
	// The sign-up above was refused before it made anything: Redis could
	// not count it.
	wantStatus(t, c.signup("alice", "wonderland"), http.StatusCreated)
	if got := c.whoami(); got != "alice" {
		t.Fatalf("/me = %q, want alice", got)
	}
}

// A Redis that hangs (here: paused with CLIENT PAUSE) gives a 503 after
// redisTimeout, not a request that hangs with it; the session is there again
// once Redis answers.
func TestHungRedisFailsClosed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, nil, "-db", db)
	signUpUsers(t, ts)
	c := newClient(t, ts)
	wantStatus(t, c.login("alice", "wonderland"), http.StatusOK)
	pause := 2*redisTimeout + time.Second
	must0(t, redisOf(t, db).client().Do(t.Context(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err())
	// Had the request waited for the pause to end, it would have got a 200.
	wantStatus(t, c.get("/me"), http.StatusServiceUnavailable)
	waitFor(t, "/me to answer 200 after the pause", func() bool { return c.get("/me").StatusCode == http.StatusOK })
	if got := c.whoami(); got != "alice" {
		t.Fatalf("after the pause /me = %q, want alice", got)
	}
}

// Redis holds no cookie value and no session id: only their SHA-256 hashes.
func TestRedisHoldsNoToken(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, map[string]string{"SESSION_SECRET": testSecret}, "-db", db)
	signUpUsers(t, ts)
	var cookies []string
	for i := range 6 {
		c := newClient(t, ts)
		c.get("/visits") // an anonymous session...
		cookies = append(cookies, c.sessionCookie())
		if i%2 == 0 {
			c.login("alice", "wonderland") // ...and a signed-in one
			cookies = append(cookies, c.sessionCookie())
			c.get("/sessions")
		}
	}
	keys := allKeys(t, redisOf(t, db).client())
	hashes := 0
	for _, cookie := range cookies {
		id, ok := decodeWith(t, testSecret, cookie)
		if !ok {
			t.Fatal("a cookie does not verify with the test secret")
		}
		for key, value := range keys {
			for _, secret := range []string{cookie, id, strings.ToLower(id), "wonderland", "the-builder"} {
				if strings.Contains(key, secret) || strings.Contains(value, secret) {
					t.Fatalf("Redis key %q (holding %q) contains a cookie, a session id or a password", key, value)
				}
			}
			if strings.HasSuffix(key, idHash(id)) {
				hashes++
			}
		}
	}
	// 3 anonymous sessions, and 3 signed-in ones (the anonymous ones they
	// replaced are gone).
	if hashes != 6 {
		t.Fatalf("Redis holds the hashes of %d sessions, want 6: is this the right Redis?", hashes)
	}
}

// The README's table: the Redis commands each route sends, counted with a
// hook on the app's client. GET /me of a signed-in user is one HGETALL.
func TestCommandsPerRoute(t *testing.T) {
	rs := startRedis(t)
	client := rs.client()
	cmds := &commandCounter{}
	client.AddHook(cmds)
	logger := slog.New(slog.DiscardHandler)
	db := openTestDB(t, filepath.Join(t.TempDir(), "app.db"))
	store := NewRedisStore(client, defaultRedisPrefix,
		newSessionCookies([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, true, 24*time.Hour), newLifetimes(30*time.Minute, 24*time.Hour), logger)
	hs := httptest.NewServer(newServer(logger, store, newSQLiteUsers(db, logger), newHasher(bcrypt.MinCost), newThrottle(store.client, store.prefix, false, store.logger), db))
	defer hs.Close()
	ts := &testServer{URL: hs.URL}
	signUpUsers(t, ts)
	c := newClient(t, ts)
	// Once through everything first, so that Redis has every script: the
	// first use of each costs an extra EVAL (after EVALSHA's NOSCRIPT).
	c.get("/visits")
	c.get("/visits")
	c.login("alice", "wonderland")
	c.changePassword("wonderland", "wonderland")
	c.do("POST", "/logout", nil, jsonHeaders)
	cmds.take()

	steps := []struct {
		name string
		do   func() response
	}{
		{"GET /me (no cookie)", func() response { return c.get("/me") }},
		{"GET /visits (first visit)", func() response { return c.get("/visits") }},
		{"GET /visits", func() response { return c.get("/visits") }},
		{"POST /login", func() response { return c.login("alice", "wonderland") }},
		{"GET /me", func() response { return c.get("/me") }},
		{"GET /", func() response { return c.do("GET", "/", nil, nil) }},
		{"GET /sessions", func() response { return c.get("/sessions") }},
		{"POST /password", func() response { return c.changePassword("wonderland", "wonderland") }},
		{"POST /logout", func() response { return c.do("POST", "/logout", nil, jsonHeaders) }},
		{"POST /signup", func() response { return c.signup("carol", "carol-password") }},
		{"POST /logout-all", func() response { return c.do("POST", "/logout-all", nil, jsonHeaders) }},
		{"GET /healthz", func() response { return c.get("/healthz") }},
	}
	for _, s := range steps {
		r := s.do()
		if r.StatusCode >= 400 && r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status %d %s", s.name, r.StatusCode, r.Body)
		}
		got := cmds.take()
		t.Logf("%-26s %d  %s", s.name, len(got), strings.Join(got, " "))
		if s.name == "GET /me" && !slices.Equal(got, []string{"HGETALL"}) {
			t.Errorf("GET /me sent %v, want one HGETALL", got)
		}
	}
}
