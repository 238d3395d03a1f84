package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of what the database file promises: sessions outlive the process,
// deadlines hold across restarts, the file holds no token, and a crash loses
// nothing that was confirmed.

// The deadlines are kept in the database, in wall-clock time: a session that
// idles out while the server is down is expired when it comes back.
func TestIdleExpiryAcrossRestart(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	args := []string{"-db", db, "-idle-timeout", "2s"}

	first := startServer(t, env, args...)
	signUpUsers(t, first)
	idle := newClient(t, first)
	idle.login("alice", "wonderland")
	must0(t, first.stop())
	time.Sleep(2500 * time.Millisecond) // longer than -idle-timeout, server down

	second := startServer(t, env, args...)
	idle.base = second.URL
	fresh := newClient(t, second)
	fresh.login("bob", "the-builder")
	must0(t, second.stop())

	third := startServer(t, env, args...) // at once: fresh has not idled
	idle.base, fresh.base = third.URL, third.URL
	if got := fresh.whoami(); got != "bob" {
		t.Errorf("a session used just before a restart is signed in as %q after it, want bob", got)
	}
	if got := idle.whoami(); got != "" {
		t.Errorf("a session idle for longer than -idle-timeout across a restart is still signed in as %q", got)
	}
}

func TestAbsoluteExpiryAcrossRestart(t *testing.T) {
	env := map[string]string{"SESSION_SECRET": testSecret}
	db := filepath.Join(t.TempDir(), "app.db")
	args := []string{"-db", db, "-max-lifetime", "3s", "-idle-timeout", "1m"}

	first := startServer(t, env, args...)
	signUpUsers(t, first)
	c := newClient(t, first)
	c.login("alice", "wonderland")
	signedIn := time.Now()
	must0(t, first.stop())

	second := startServer(t, env, args...)
	c.base = second.URL
	if got := c.whoami(); got != "alice" {
		t.Fatalf("right after a restart /me = %q, want alice", got)
	}
	for time.Since(signedIn) < 3500*time.Millisecond {
		c.whoami() // in use all along: the idle deadline never comes
		time.Sleep(200 * time.Millisecond)
	}
	must0(t, second.stop())

	third := startServer(t, env, args...)
	c.base = third.URL
	if got := c.whoami(); got != "" {
		t.Fatalf("a session older than -max-lifetime is still signed in as %q after a restart", got)
	}
}

// The sweeper deletes expired rows, leaves live ones, and stops with the
// server.
func TestSweeperDeletesExpiredRows(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	// A live session: issued by a server with the default -idle-timeout, its
	// stored deadlines are 30 minutes away, whatever the next server's flags.
	first := startServer(t, nil, "-db", db)
	newClient(t, first).get("/visits")
	must0(t, first.stop())

	ts := startServer(t, nil, "-db", db, "-idle-timeout", "1s")
	for range 3 {
		newClient(t, ts).get("/visits")
	}
	conn := openTestDB(t, db)
	count := func(where string) int {
		var n int
		must0(t, conn.QueryRow(`SELECT count(*) FROM sessions WHERE `+where, time.Now().UnixMilli()).Scan(&n))
		return n
	}
	if n := count("1"); n != 4 {
		t.Fatalf("%d sessions after 4 visits, want 4", n)
	}
	// The sweeper runs every second here; give it ten to delete them.
	const expired = "idle_expires_at <= ?1 OR absolute_expires_at <= ?1"
	for deadline := time.Now().Add(10 * time.Second); count("1") > 1 || count(expired) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d expired sessions are still in the database", count(expired))
		}
	}
	if n := count("idle_expires_at > ?1 AND absolute_expires_at > ?1"); n != 1 {
		t.Fatalf("after the sweep, %d live sessions are left, want the 1 live session", n)
	}
	must0(t, ts.stop())
}

// The database file, its -wal and its -shm hold no cookie value and no
// session id: only SHA-256 hashes of the ids. And no password.
func TestDatabaseHoldsNoToken(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, map[string]string{"SESSION_SECRET": testSecret}, "-db", db)
	signUpUsers(t, ts)
	var cookies []string
	for i := range 10 {
		c := newClient(t, ts)
		c.get("/visits") // an anonymous session...
		cookies = append(cookies, c.sessionCookie())
		if i%2 == 0 {
			c.login("alice", "wonderland") // ...and a signed-in one
			cookies = append(cookies, c.sessionCookie())
		}
	}
	check := func(when string) {
		files := readDBFiles(t, db)
		if len(files) == 0 {
			t.Fatalf("%s: no database files at %s", when, db)
		}
		for _, password := range []string{"wonderland", "the-builder"} {
			if bytes.Contains(files, []byte(password)) {
				t.Errorf("%s: the database files contain the password %q", when, password)
			}
		}
		hashes := 0
		for _, cookie := range cookies {
			id, ok := decodeWith(t, testSecret, cookie)
			if !ok {
				t.Fatalf("a cookie does not verify with the test secret")
			}
			if bytes.Contains(files, []byte(cookie)) || bytes.Contains(files, []byte(id)) {
				t.Fatalf("%s: the database files contain an issued cookie or session id", when)
			}
			if bytes.Contains(files, []byte(idHash(id))) {
				hashes++
			}
		}
		if hashes == 0 {
			t.Fatalf("%s: not even the hashes of the ids are in the files: is this the database?", when)
		}
	}
	check("while running")
	must0(t, ts.stop())
	check("after shutdown")
}

// raceEnabled says whether the test binary was built with -race; the crash
// test builds the server the same way, so that the go command can reuse the
// packages it has built already (SQLite takes a while to compile).
var raceEnabled = false

// The server is killed (SIGKILL: no shutdown, no checkpoint) while many
// clients sign up and log in. Started again on the same file, the database
// is intact and every sign-up that was answered 201 is there.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // SQLite compiles slowly, but not forever
	defer cancel()
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	build.Env = append(os.Environ(), "GOWORK=off") // this module on its own, as the tests run it
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "app.db")

	first := startProcess(t, bin, "-db", db, "-trust-proxy") // each sign-up from an address of its own
	var (
		mu         sync.Mutex
		confirmed  []string // users whose sign-up got 201
		serverErrs []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("user-%d-%d", w, i)
				c := newClient(t, &testServer{URL: first.URL}).from(fmt.Sprintf("10.%d.%d.%d", w, i/256%256, i%256))
				status, body, err := c.try("POST", "/signup", `{"username":"`+name+`","password":"password-`+name+`"}`)
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				if status == http.StatusCreated {
					confirmed = append(confirmed, name)
				} else if status >= 500 {
					serverErrs = append(serverErrs, fmt.Sprintf("signup %s: %d %s", name, status, body))
				}
				mu.Unlock()
				if status, body, err = c.try("POST", "/login", `{"username":"`+name+`","password":"password-`+name+`"}`); err == nil && status >= 500 {
					mu.Lock()
					serverErrs = append(serverErrs, fmt.Sprintf("login %s: %d %s", name, status, body))
					mu.Unlock()
				}
			}
		})
	}
	// Kill it once enough sign-ups are confirmed, with requests in flight;
	// if they are not, within a minute, something else is wrong.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n, errs := len(confirmed), slices.Clone(serverErrs)
		mu.Unlock()
		if n >= 60 {
			break
		}
		if first.exited() || time.Now().After(deadline) {
			first.kill()
			close(stop)
			wg.Wait()
			t.Fatalf("%d sign-ups confirmed, %d server errors %q, server exited: %v; want 60 sign-ups within a minute\n%s", n, len(errs), errs, first.exited(), first.logs)
		}
	}
	first.kill()
	close(stop)
	wg.Wait() // every request has the client's 30s timeout, and the server is gone
	for _, e := range serverErrs {
		t.Errorf("before the crash: %s", e)
	}

	second := startProcess(t, bin, "-db", db)
	c := newClient(t, &testServer{URL: second.URL})
	wantStatus(t, c.get("/healthz"), http.StatusOK)

	conn, err := sql.Open("sqlite3", dsn(db, nil))
	must0(t, err)
	defer conn.Close()
	var integrity string
	must0(t, conn.QueryRow(`PRAGMA integrity_check`).Scan(&integrity))
	if integrity != "ok" {
		t.Fatalf("PRAGMA integrity_check after the crash: %s", integrity)
	}
	var fk int
	must0(t, conn.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&fk))
	if fk != 0 {
		t.Errorf("%d rows break a foreign key after the crash", fk)
	}
	found := map[string]bool{}
	rows, err := conn.Query(`SELECT name FROM users`)
	must0(t, err)
	for rows.Next() {
		var name string
		must0(t, rows.Scan(&name))
		found[name] = true
	}
	must0(t, rows.Err())
	for _, name := range confirmed {
		if !found[name] {
			t.Errorf("user %s got 201 before the crash and is gone after it", name)
		}
	}
	// And they can sign in (the first few: bcrypt is slow on purpose).
	for _, name := range confirmed[:5] {
		status, body, err := c.try("POST", "/login", `{"username":"`+name+`","password":"password-`+name+`"}`)
		if err != nil || status != http.StatusOK {
			t.Errorf("login as %s after the crash: %d %s %v", name, status, body, err)
		}
	}
	t.Logf("%d sign-ups confirmed before the kill, %d users in the database after it", len(confirmed), len(found))
}

// try sends a JSON body and returns the status and body, or the transport
// error (which a test that kills the server expects).
// A 503 with Retry-After (the hashing bound) is tried again, up to 100 times.
func (c *client) try(method, path, body string) (int, string, error) {
	for range 100 {
		req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			return 0, "", err
		}
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			return resp.StatusCode, b.String(), err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, "", errors.New("503 with Retry-After 100 times")
}

// from makes c's requests come from addr, for a server with -trust-proxy.
func (c *client) from(addr string) *client {
	c.http.Transport = forwardedFor(addr)
	return c
}

// forwardedFor is a transport that sets X-Forwarded-For.
type forwardedFor string

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", string(f))
	return http.DefaultTransport.RoundTrip(r)
}

// process is the server running as a child process.
type process struct {
	t    *testing.T
	URL  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// startProcess runs the built server with args (and -addr 127.0.0.1:0, a
// cheap bcrypt cost and the test secret) and waits until it listens.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-bcrypt-cost", "4"}, args...)...)
	cmd.Env = append(os.Environ(), "SESSION_SECRET="+testSecret)
	dieWithTest(cmd)
	stderr, err := cmd.StderrPipe()
	must0(t, err)
	must0(t, cmd.Start())
	p := &process{t: t, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		addrRE := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(p.logs, sc.Text())
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				listening <- m[1]
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case addr := <-listening:
		p.URL = "http://" + addr
		return p
	case <-p.done:
		t.Fatalf("the server exited before listening:\n%s", p.logs)
	case <-ctx.Done():
		t.Fatalf("the server did not listen within 30s:\n%s", p.logs)
	}
	return nil
}

// kill sends SIGKILL: the process ends at once, mid-request.
func (p *process) kill() {
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second): // SIGKILL cannot be refused: this is a stuck pipe
		p.t.Fatalf("the server process did not end within 10s of SIGKILL")
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Many clients sign up, log in, read and write at once: no client ever sees
// a 5xx (no "database is locked"), under -race, but for the hashing
// bound's 503 with Retry-After, after which they try again. Each worker
// comes from an address of its own (-trust-proxy), under the signup limit.
func TestParallelLoadHasNoServerErrors(t *testing.T) {
	ts := startServer(t, nil, "-trust-proxy")
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			addr := fmt.Sprintf("203.0.113.%d", w)
			for i := range 5 {
				name := fmt.Sprintf("load-%d-%d", w, i)
				c := newClient(t, ts).from(addr)
				status, body, err := c.try("POST", "/signup", `{"username":"`+name+`","password":"password-1"}`)
				if err != nil || status != http.StatusCreated {
					t.Errorf("signup %s: %d %s %v", name, status, body, err)
					continue
				}
				other := newClient(t, ts).from(addr)
				for _, req := range []struct {
					client             *client
					method, path, body string
				}{
					{other, "POST", "/login", `{"username":"` + name + `","password":"password-1"}`},
					{c, "GET", "/me", ""},
					{c, "GET", "/visits", ""},
					{other, "GET", "/visits", ""},
					{c, "GET", "/sessions", ""},
					{other, "GET", "/me", ""},
					{c, "POST", "/logout", ""},
				} {
					status, body, err := req.client.try(req.method, req.path, req.body)
					if err != nil || status >= 500 || strings.Contains(body, "locked") {
						t.Errorf("%s %s as %s: %d %s %v", req.method, req.path, name, status, body, err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// Another process that holds the write lock (here: a connection of the
// test's own, as the sqlite3 shell would) makes /healthz answer 503, and
// 200 again once it lets go. Reads go on meanwhile: WAL lets them.
func TestHealthzWhenDatabaseIsLocked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "app.db")
	ts := startServer(t, nil, "-db", db)
	signUpUsers(t, ts)
	c := newClient(t, ts)
	c.login("alice", "wonderland")
	wantStatus(t, c.get("/healthz"), http.StatusOK)

	other, err := sql.Open("sqlite3", dsn(db, nil))
	must0(t, err)
	defer other.Close()
	lock := must(other.Conn(t.Context()))
	defer lock.Close()
	must(lock.ExecContext(t.Context(), `BEGIN IMMEDIATE`)) // the write lock, held

	r := c.get("/healthz")
	wantStatus(t, r, http.StatusServiceUnavailable)
	if msg, _ := r.json(t)["error"].(string); msg == "" || strings.Contains(msg, "locked") {
		t.Errorf("/healthz with the database locked answered %q, want an error that does not leak SQLite's message", r.Body)
	}
	if got := c.whoami(); got != "alice" {
		t.Errorf("/me with the database locked by another writer = %q, want alice: reads do not wait for the writer", got)
	}
	// A logout that reads its session but cannot delete it: 503, and the
	// browser forgets the cookie all the same.
	out := c.do("POST", "/logout", nil, jsonHeaders)
	wantStatus(t, out, http.StatusServiceUnavailable)
	wantCookieForgotten(t, out.Response, "logout with the database locked")
	must(lock.ExecContext(t.Context(), `ROLLBACK`))
	wantStatus(t, c.get("/healthz"), http.StatusOK)
	if got := c.whoami(); got != "" {
		t.Errorf("after a logout that got 503, this browser is still signed in as %q", got)
	}
}
