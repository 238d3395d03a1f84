package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tests against real Redis topologies that the tests start themselves: a
// Cluster of 3 masters and 3 replicas, and a Sentinel setup (1 master, 1
// replica, 3 sentinels), on 127.0.0.1. A master is killed (SIGKILL) while
// clients keep using their sessions through two app instances: until a
// replica takes over, the sessions on it get 503, never an anonymous 200 or
// a 500; then they are served again, and sign-out-everywhere still ends them.
// Timeouts are short (a node is failed after 1s) so that a failover takes a
// few seconds.

// redisProc is one redis-server process of a topology, on 127.0.0.1:port.
type redisProc struct {
	port int
	cmd  *exec.Cmd
	dir  string
}

func (p *redisProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// kill stops the process at once, as a crash would.
func (p *redisProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// startRedisProc starts redis-server with args (a config file first, if
// any) on port, in a folder of its own under dir, waits until it answers
// PING, and kills it at the end of the test.
func startRedisProc(t *testing.T, dir string, port int, args ...string) *redisProc {
	t.Helper()
	bin := needRedisBinary(t, "redis-server")
	pdir := filepath.Join(dir, strconv.Itoa(port))
	must0(t, os.MkdirAll(pdir, 0o700))
	p := &redisProc{port: port, dir: pdir}
	p.cmd = exec.Command(bin, append(args,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", // nothing on disk: the replicas keep the data
		"--dir", pdir, "--logfile", filepath.Join(pdir, "redis.log"))...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(p.kill)
	for deadline := time.Now().Add(10 * time.Second); !pongTCP(p.addr()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(pdir, "redis.log"))
			t.Fatalf("redis-server on %d did not answer within 10s:\n%s", port, log)
		}
	}
	return p
}

// pongTCP says whether a Redis answers PING at addr.
func pongTCP(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err() == nil
}

// freePorts returns n ports of 127.0.0.1 that nothing listens on, nor on
// port+10000 (a Cluster node's bus port).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		held = append(held, bus)
		ports = append(ports, port)
	}
	return ports
}

// topoDir is a folder for a topology's files: short, because a test's
// temporary folder holds its name.
func topoDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "redis-topo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startCluster starts 6 nodes and makes them a Cluster of 3 masters with a
// replica each, with redis-cli, as an operator would.
func startCluster(t *testing.T) []*redisProc {
	t.Helper()
	cli := needRedisBinary(t, "redis-cli")
	dir := topoDir(t)
	var nodes []*redisProc
	args := []string{"--cluster", "create"}
	for _, port := range freePorts(t, 6) {
		n := startRedisProc(t, dir, port, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000",
			"--cluster-replica-validity-factor", "0") // a replica may always take over
		nodes = append(nodes, n)
		args = append(args, n.addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range nodes {
		waitFor(t, "cluster_state:ok and a replica for every master on "+n.addr(), func() bool {
			c := redis.NewClient(&redis.Options{Addr: n.addr()})
			defer c.Close()
			info, err := c.ClusterInfo(context.Background()).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
			slots, err := c.ClusterSlots(context.Background()).Result()
			if err != nil || len(slots) != 3 {
				return false
			}
			for _, r := range slots {
				if len(r.Nodes) != 2 {
					return false
				}
			}
			return true
		})
	}
	return nodes
}

// startSentinel starts a master, its replica, and 3 sentinels that watch it
// as "mymaster" (2 of them must agree that it is down).
func startSentinel(t *testing.T) (master, replica *redisProc, sentinels []*redisProc) {
	t.Helper()
	dir := topoDir(t)
	ports := freePorts(t, 5)
	master = startRedisProc(t, dir, ports[0])
	replica = startRedisProc(t, dir, ports[1], "--replicaof", "127.0.0.1", strconv.Itoa(ports[0]))
	for _, port := range ports[2:] {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", port))
		must0(t, os.WriteFile(conf, fmt.Appendf(nil, `sentinel monitor mymaster 127.0.0.1 %d 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 10000
`, ports[0]), 0o600))
		sentinels = append(sentinels, startRedisProc(t, dir, port, conf, "--sentinel"))
	}
	waitFor(t, "the replica to be in sync", func() bool { return inSync(master) })
	for _, s := range sentinels {
		waitFor(t, "the sentinels to know the replica and each other", func() bool {
			c := redis.NewSentinelClient(&redis.Options{Addr: s.addr()})
			defer c.Close()
			m, err := c.Master(context.Background(), "mymaster").Result()
			return err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2"
		})
	}
	return master, replica, sentinels
}

// inSync says whether every replica of master has all it wrote.
func inSync(master *redisProc) bool {
	c := redis.NewClient(&redis.Options{Addr: master.addr()})
	defer c.Close()
	info, err := c.Info(context.Background(), "replication").Result()
	if err != nil || !strings.Contains(info, "connected_slaves:1") {
		return false
	}
	var offset string
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "master_repl_offset:"); ok {
			offset = v
		}
	}
	return strings.Contains(info, ",offset="+offset+",")
}

// isMaster says whether the Redis at addr now says it is a master.
func isMaster(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	role, err := c.Do(context.Background(), "ROLE").Slice()
	return err == nil && len(role) > 0 && role[0] == "master"
}

// visitor is one user's browser, signed in through one app instance and
// using its session through both.
type visitor struct {
	user   string
	onA    *client
	onB    *client
	cookie string
}

// signInVisitors signs up n users on a and signs each in, so that their
// sessions spread over the Cluster's slots; each also uses b.
func signInVisitors(t *testing.T, a, b *testServer, n int) []*visitor {
	t.Helper()
	var vs []*visitor
	for i := range n {
		v := &visitor{user: fmt.Sprintf("user%02d", i), onA: newClient(t, a), onB: newClient(t, b)}
		v.onB.http.Jar = v.onA.http.Jar // one browser, two instances behind a load balancer
		// Each from an address of its own (the servers trust X-Forwarded-For):
		// one address may sign up only 10 times an hour.
		wantStatus(t, newClient(t, a).from(fmt.Sprintf("203.0.113.%d", i)).signup(v.user, "password-"+v.user), http.StatusCreated)
		wantStatus(t, v.onB.login(v.user, "password-"+v.user), http.StatusOK)
		v.cookie = v.onA.sessionCookie()
		vs = append(vs, v)
	}
	return vs
}

// seen is what the visitors saw during a failover.
type seen struct {
	mu          sync.Mutex
	lastFailure map[string]time.Time // per visitor: the last 503
	failures    int
	ok          int
	bad         []string // anything but 200-as-the-user or 503
}

// traffic has the visitors use their sessions, alternating instances and
// reads with writes, until stop is closed.
func traffic(vs []*visitor, stop chan struct{}) (*seen, *sync.WaitGroup) {
	out := &seen{lastFailure: map[string]time.Time{}}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := vs[i%len(vs)]
				c, path := v.onA, "/me"
				if i%2 == 1 {
					c = v.onB
				}
				if i%3 == 0 {
					path = "/visits"
				}
				out.record(v, path, c)
			}
		})
	}
	return out, &wg
}

func (out *seen) record(v *visitor, path string, c *client) {
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	now := time.Now()
	out.mu.Lock()
	defer out.mu.Unlock()
	if err != nil {
		out.bad = append(out.bad, fmt.Sprintf("%s GET %s: %v", v.user, path, err))
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		out.failures++
		out.lastFailure[v.user] = now
	case resp.StatusCode == http.StatusOK && (path == "/visits" || strings.Contains(string(body), `"user":"`+v.user+`"`)):
		out.ok++
	default:
		out.bad = append(out.bad, fmt.Sprintf("%s GET %s: %d %s", v.user, path, resp.StatusCode, body))
	}
}

// failover kills the master at kill, waits for promoted to be a master,
// and returns when every visitor has been served again; it checks what the
// visitors saw on the way, and /healthz before and after.
func failover(t *testing.T, a, b *testServer, vs []*visitor, kill *redisProc, promoted string, partial bool) {
	t.Helper()
	stop := make(chan struct{})
	out, wg := traffic(vs, stop)
	defer func() {
		close(stop)
		wg.Wait()
	}()
	time.Sleep(300 * time.Millisecond) // traffic before the kill, too

	killed := time.Now()
	kill.kill()
	promotion := make(chan time.Time, 1)
	go func() {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if isMaster(promoted) {
				promotion <- time.Now()
				return
			}
		}
		close(promotion)
	}()
	if partial {
		// The other masters still answer: /healthz must not say all is well.
		waitFor(t, "/healthz to say 503 during the outage", func() bool {
			return newClient(t, a).get("/healthz").StatusCode == http.StatusServiceUnavailable
		})
	}
	promotedAt, ok := <-promotion
	if !ok {
		t.Fatal("no replica was promoted within 30s of the kill")
	}
	// Served again: no 503 for any visitor for a full second, which takes
	// every visitor a few requests.
	var recovered time.Time
	for deadline := promotedAt.Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out.mu.Lock()
		var last time.Time
		for _, at := range out.lastFailure {
			if at.After(last) {
				last = at
			}
		}
		out.mu.Unlock()
		if time.Since(last) > time.Second && time.Since(promotedAt) > time.Second {
			recovered = promotedAt
			if last.After(recovered) {
				recovered = last
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still 503s 20s after the promotion (last at %v)", last.Sub(promotedAt))
		}
	}
	out.mu.Lock()
	t.Logf("killed the master; replica promoted after %v; sessions served again %v after the promotion (%v after the kill); %d answers 503, %d answers 200",
		promotedAt.Sub(killed).Round(10*time.Millisecond), recovered.Sub(promotedAt).Round(10*time.Millisecond),
		recovered.Sub(killed).Round(10*time.Millisecond), out.failures, out.ok)
	if len(out.bad) > 0 {
		t.Errorf("%d answers were neither 200 as the user nor 503, e.g.:\n%s", len(out.bad), strings.Join(out.bad[:min(5, len(out.bad))], "\n"))
	}
	if late := recovered.Sub(promotedAt); late > 10*time.Second {
		t.Errorf("sessions were served again %v after the promotion, want within 10s", late)
	}
	out.mu.Unlock()
	for _, ts := range []*testServer{a, b} {
		waitFor(t, "/healthz to say 200 after the failover", func() bool {
			return newClient(t, ts).get("/healthz").StatusCode == http.StatusOK
		})
	}
}

// afterFailover checks that every session survived, and that sign-out
// everywhere (from a second session, on the other instance) still ends
// every session of the user.
func afterFailover(t *testing.T, b *testServer, vs []*visitor) {
	t.Helper()
	for _, v := range vs {
		if got := v.onA.whoami(); got != v.user {
			t.Fatalf("after the failover %s's session is %q", v.user, got)
		}
	}
	for _, v := range vs {
		other := signInFrom(t, b, v.user, "password-"+v.user, "Other/1.0")
		if n := len(other.get("/sessions").json(t)["sessions"].([]any)); n < 2 {
			t.Fatalf("%s has %d sessions listed after the failover, want at least 2", v.user, n)
		}
		wantStatus(t, other.do("POST", "/logout-all", nil, jsonHeaders), http.StatusOK)
		if got := v.onA.whoami(); got != "" {
			t.Fatalf("after /logout-all %s's session is still %q", v.user, got)
		}
		v.onB.setSessionCookie(v.cookie) // the cookie itself, as a thief would keep it
		if got := v.onB.whoami(); got != "" {
			t.Fatalf("after /logout-all %s's old cookie is still %q", v.user, got)
		}
	}
}

// Two app instances on a real Cluster, one of them given a single node's
// address: every route works across slots, and a master's death costs its
// sessions 503s until its replica takes over, and a second or two after.
func TestCluster(t *testing.T) {
	nodes := startCluster(t)
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	// Two nodes' addresses make a Cluster URL; one node named twice will do.
	a := startServer(t, env, "-db", db, "-trust-proxy", "-redis", "redis://"+nodes[0].addr()+"?addr="+nodes[1].addr())
	b := startServer(t, env, "-db", db, "-trust-proxy", "-redis", "redis://"+nodes[3].addr()+"?addr="+nodes[3].addr())
	vs := signInVisitors(t, a, b, 24)
	everyRoute(t, a, b, vs)

	// A master (the first, whose address instance A was given, if it is
	// one), and its replica. With 24 visitors, a third of the sessions are
	// its, with their users' sets.
	cc := redis.NewClient(&redis.Options{Addr: nodes[0].addr()})
	defer cc.Close()
	var kill *redisProc
	var replica string
	for _, r := range must(cc.ClusterSlots(t.Context()).Result()) {
		for _, n := range nodes {
			if n.addr() == r.Nodes[0].Addr && (kill == nil || n == nodes[0]) {
				kill, replica = n, r.Nodes[1].Addr
			}
		}
	}
	for _, n := range nodes { // the replicas have every session before the kill
		if isMaster(n.addr()) {
			waitFor(t, "the replicas to be in sync", func() bool { return inSync(n) })
		}
	}
	failover(t, a, b, vs, kill, replica, true)
	afterFailover(t, b, vs)
}

// Two app instances on a real Sentinel setup: the master's death costs 503s
// until the sentinels promote the replica, and sessions survive it.
func TestSentinel(t *testing.T) {
	master, replica, sentinels := startSentinel(t)
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	url := "redis://" + sentinels[0].addr() + "?master_name=mymaster&addr=" + sentinels[1].addr() + "&addr=" + sentinels[2].addr()
	a := startServer(t, env, "-db", db, "-trust-proxy", "-redis", url)
	b := startServer(t, env, "-db", db, "-trust-proxy", "-redis", url)
	vs := signInVisitors(t, a, b, 8)
	everyRoute(t, a, b, vs)
	waitFor(t, "the replica to be in sync", func() bool { return inSync(master) })
	failover(t, a, b, vs, master, replica.addr(), false)
	afterFailover(t, b, vs)
}

// everyRoute goes through every route with the visitors' sessions, across
// both instances: no 5xx anywhere (no CROSSSLOT, no MOVED).
func everyRoute(t *testing.T, a, b *testServer, vs []*visitor) {
	t.Helper()
	for _, ts := range []*testServer{a, b} {
		wantStatus(t, newClient(t, ts).get("/healthz"), http.StatusOK)
		anon := newClient(t, ts)
		wantStatus(t, anon.get("/visits"), http.StatusOK)
		wantStatus(t, anon.get("/"), http.StatusOK)
		wantStatus(t, anon.get("/me"), http.StatusUnauthorized)
	}
	for i, v := range vs {
		if got := v.onA.whoami(); got != v.user {
			t.Fatalf("%s on A: /me = %q", v.user, got)
		}
		if got := v.onB.whoami(); got != v.user {
			t.Fatalf("%s on B: /me = %q", v.user, got)
		}
		wantStatus(t, v.onA.get("/visits"), http.StatusOK)
		wantStatus(t, v.onB.get("/"), http.StatusOK)
		if n := len(v.onB.get("/sessions").json(t)["sessions"].([]any)); n != 2 {
			t.Fatalf("%s has %d sessions listed, want 2 (sign-up and login)", v.user, n)
		}
		if i%4 == 0 { // some sign out everywhere, change their password, log out, and come back
			wantStatus(t, v.onB.do("POST", "/logout-all", nil, jsonHeaders), http.StatusOK)
			wantStatus(t, v.onA.login(v.user, "password-"+v.user), http.StatusOK)
			wantStatus(t, v.onB.changePassword("password-"+v.user, "password-"+v.user), http.StatusOK)
			wantStatus(t, v.onA.do("POST", "/logout", nil, jsonHeaders), http.StatusOK)
			wantStatus(t, v.onB.login(v.user, "password-"+v.user), http.StatusOK)
			v.cookie = v.onA.sessionCookie()
		}
	}
}
