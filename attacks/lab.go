package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stepDirs names the folder of each step.
var stepDirs = map[int]string{
	1: "step1-cookies",
	2: "step2-memory-sessions",
	3: "step3-bcrypt-login",
	4: "step4-persistent-store",
	5: "step5-redis",
}

// bcryptCost is the cost the lab gives steps 3-5 (-bcrypt-cost): 4 times
// quicker than the default 12, so that guessing and flooding take seconds,
// and still slow enough (tens of milliseconds) that a login which skipped
// the hash would stand out in the timing attack.
const bcryptCost = "10"

// lab holds what the attacks share: the built servers, one redis-server,
// one browser, and a folder for all their files. Everything it starts, it
// stops in close.
type lab struct {
	ctx    context.Context
	root   string // the repository, with the step folders
	tmp    string // removed by close
	secret string // SESSION_SECRET of every server, unless a cell asks for none

	mu         sync.Mutex
	bins       map[int]*buildResult
	redis      *redisServer
	redisErr   error
	browser    *browser
	browserErr error
	prefixN    int // numbers each cell's Redis prefix
}

type buildResult struct {
	once sync.Once
	bin  string
	err  error
}

func newLab(ctx context.Context, root string) (*lab, error) {
	tmp, err := os.MkdirTemp("", "attacks-")
	if err != nil {
		return nil, fmt.Errorf("make a temporary folder: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	return &lab{
		ctx:    ctx,
		root:   root,
		tmp:    tmp,
		secret: base64.StdEncoding.EncodeToString(key),
		bins:   map[int]*buildResult{},
	}, nil
}

// close stops the browser and redis-server and removes every file.
func (l *lab) close() {
	if l.browser != nil {
		l.browser.close()
	}
	if l.redis != nil {
		l.redis.stop()
	}
	os.RemoveAll(l.tmp)
}

// findRoot returns the repository's folder: dir or one of its parents, the
// first that holds step1-cookies.
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, stepDirs[1], "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no %s folder in %s or above: run the lab from the repository", stepDirs[1], dir)
		}
	}
}

// build compiles a step's server once, as a reader would with `go build`
// inside the step folder (alone, without go.work).
func (l *lab) build(step int) (string, error) {
	l.mu.Lock()
	b := l.bins[step]
	if b == nil {
		b = &buildResult{}
		l.bins[step] = b
	}
	l.mu.Unlock()
	b.once.Do(func() {
		b.bin = filepath.Join(l.tmp, "bin", stepDirs[step])
		cmd := exec.CommandContext(l.ctx, "go", "build", "-o", b.bin, ".")
		cmd.Dir = filepath.Join(l.root, stepDirs[step])
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", stepDirs[step], err, out)
		}
	})
	return b.bin, b.err
}

// server is one running step server, a child process of the lab.
type server struct {
	step int
	bin  string
	args []string
	env  []string
	dir  string // its working folder, where its data files live
	Addr string // host:port it listens on
	URL  string // http://host:port

	cmd  *exec.Cmd
	logs *tailBuffer
	done chan error
}

// serverOptions are what a cell may change about a server.
type serverOptions struct {
	noSecret   bool   // leave SESSION_SECRET unset: steps 4-5 keep one in their database
	bcryptCost string // steps 3-5: -bcrypt-cost ("": the lab's bcryptCost)
}

// startServer starts a step's server with fresh data, on a free loopback
// port, as the e2e tests do. The cell stops it when it ends.
func (c *cell) startServer(opts serverOptions) *server {
	bin, err := c.lab.build(c.step)
	if err != nil {
		c.fatalf("%v", err)
	}
	dir := c.tempDir()
	s := &server{step: c.step, bin: bin, dir: dir}
	if c.step >= 3 {
		s.args = append(s.args, "-bcrypt-cost", cmp.Or(opts.bcryptCost, bcryptCost))
	}
	switch c.step {
	case 4:
		s.args = append(s.args, "-db", filepath.Join(dir, "step4.db"))
	case 5:
		s.args = append(s.args, "-db", filepath.Join(dir, "step5.db"),
			"-redis", c.redis().URL(), "-redis-prefix", c.redisPrefix())
	}
	for _, kv := range os.Environ() {
		// The caller's own settings must not leak into the lab's servers.
		if !strings.HasPrefix(kv, "SESSION_SECRET=") && !strings.HasPrefix(kv, "REDIS_URL=") {
			s.env = append(s.env, kv)
		}
	}
	if !opts.noSecret {
		s.env = append(s.env, "SESSION_SECRET="+c.lab.secret)
	}
	if err := s.start("127.0.0.1:0"); err != nil {
		c.fatalf("%v", err)
	}
	c.cleanup(func() {
		// A server that crashed under the attack, or hangs, is news.
		if err := s.stop(); err != nil {
			c.afterwards = append(c.afterwards, err.Error())
		}
	})
	return s
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs the server on addr and waits for its "listening" log line.
func (s *server) start(addr string) error {
	s.logs = &tailBuffer{max: 16 << 10}
	cmd := exec.Command(s.bin, append([]string{"-addr", addr}, s.args...)...)
	cmd.Dir, cmd.Env, cmd.Stdout = s.dir, s.env, s.logs
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(s.bin), err)
	}
	s.cmd = cmd
	listening := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			s.logs.Write([]byte(line))
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				listening <- m[1]
				break
			}
			if err != nil {
				break
			}
		}
		io.Copy(s.logs, r) // the rest, without looking at each line
	}()
	s.done = make(chan error, 1)
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		s.done <- cmd.Wait()
	}()
	select {
	case a := <-listening:
		s.Addr, s.URL = a, "http://"+a
		return nil
	case err := <-s.done:
		s.cmd = nil
		return fmt.Errorf("%s stopped before listening: %v\nlogs:\n%s", filepath.Base(s.bin), err, s.logs)
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.cmd = nil
		return fmt.Errorf("%s did not listen within 20s; logs:\n%s", filepath.Base(s.bin), s.logs)
	}
}

// stop shuts the server down as an operator would (SIGTERM), and kills it
// if it does not stop in time.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	cmd := s.cmd
	s.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("%s did not exit cleanly: %v\nlogs:\n%s", filepath.Base(s.bin), err, s.logs)
		}
		return nil
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("%s did not stop within 15s of SIGTERM", filepath.Base(s.bin))
	}
}

// restart stops the server and starts it again on the same address, with the
// same flags and data: what a deploy does.
func (c *cell) restart(s *server) {
	if err := s.stop(); err != nil {
		c.fatalf("%v", err)
	}
	if err := s.start(s.Addr); err != nil {
		c.fatalf("%v", err)
	}
}

// tailBuffer keeps the last max bytes written to it, at least: a flood's
// request log would otherwise fill the memory.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*b.max { // trimmed now and then, not at every line
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// redisServer is the lab's own redis-server: loopback, a random port, no
// persistence. Each cell keeps its keys under a prefix of its own.
type redisServer struct {
	port int
	cmd  *exec.Cmd
	done chan error
	logs *tailBuffer
}

func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// redis returns the lab's redis-server, started on first use.
func (c *cell) redis() *redisServer {
	l := c.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.redis == nil && l.redisErr == nil {
		l.redis, l.redisErr = startRedis(filepath.Join(l.tmp, "redis"))
	}
	if l.redisErr != nil {
		c.fatalf("%v", l.redisErr)
	}
	return l.redis
}

// redisPrefix is the cell's own -redis-prefix.
func (c *cell) redisPrefix() string {
	if c.prefix == "" {
		c.lab.mu.Lock()
		c.lab.prefixN++
		c.prefix = fmt.Sprintf("attacks%d:", c.lab.prefixN)
		c.lab.mu.Unlock()
	}
	return c.prefix
}

func startRedis(dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (install it: sudo apt-get install redis-server): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{port: port, logs: &tailBuffer{max: 8 << 10}}
	r.cmd = exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return r, nil
		}
		select {
		case err := <-r.done:
			return nil, fmt.Errorf("redis-server exited: %v\n%s", err, r.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server did not listen within 10s\n%s", r.logs)
		}
	}
}

func (r *redisServer) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
}

// freePort returns a loopback port nobody listened on a moment ago, for
// redis-server, which cannot report the port it chose.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cell is one attack on one step: like a *testing.T, it stops the attack
// with fatalf and undoes what the attack started when it ends.
type cell struct {
	lab        *lab
	step       int
	prefix     string
	cleanups   []func()
	afterwards []string // what went wrong in the cleanups
}

// cellFailure is what fatalf panics with; runCell recovers it.
type cellFailure struct{ msg string }

// fatalf ends the attack: the lab could not carry it out (a server did not
// start, a request failed), which is neither "works" nor "stopped".
func (c *cell) fatalf(format string, args ...any) {
	panic(cellFailure{fmt.Sprintf(format, args...)})
}

func (c *cell) cleanup(f func()) { c.cleanups = append(c.cleanups, f) }

func (c *cell) tempDir() string {
	dir, err := os.MkdirTemp(c.lab.tmp, fmt.Sprintf("step%d-", c.step))
	if err != nil {
		c.fatalf("make a folder: %v", err)
	}
	return dir
}

// run runs one attack on the cell's step, and turns a fatalf into an error.
func (c *cell) run(a *attack) (v verdict, err error) {
	defer func() {
		for i := len(c.cleanups) - 1; i >= 0; i-- {
			c.cleanups[i]()
		}
		if err == nil && len(c.afterwards) > 0 {
			err = errors.New(strings.Join(c.afterwards, "; "))
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(cellFailure)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
	}()
	return a.run(c), nil
}
