package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
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
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

var updateScreenshots = flag.Bool("update-screenshots", false,
	"write PNG screenshots of each step's main pages into ../docs/screenshots")

const (
	// chromiumPath is Debian's Chromium (apt package chromium).
	chromiumPath = "/usr/bin/chromium"
	// screenshotDir is where -update-screenshots writes, relative to this folder.
	screenshotDir = "../docs/screenshots"
	// width and height of the viewport, and so of every screenshot: a laptop.
	viewportWidth, viewportHeight = 1280, 800
	// actionTimeout bounds one browser action, so that an element that never
	// shows up fails the test with a message instead of hanging it.
	actionTimeout = 20 * time.Second
)

// testSecret is the SESSION_SECRET of every server the tests start: fixed, so
// that a restarted server, or a second instance, accepts the same cookies.
var testSecret = base64.StdEncoding.EncodeToString([]byte("e2e-secret-0123456789abcdef-0123456789"))

// inCI reports whether missing tools must fail the suite rather than skip it.
func inCI() bool { return os.Getenv("CI") == "true" }

// requireTool finds an external program the test needs. Outside CI a missing
// one skips the test, loudly; in CI it fails it, since a green run that
// tested nothing would lie.
func requireTool(t *testing.T, nameOrPath, install string) string {
	t.Helper()
	path, err := exec.LookPath(nameOrPath)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (%v): install it with %q; this test is NOT run", nameOrPath, err, install)
	if inCI() {
		t.Fatal(msg)
	}
	fmt.Fprintln(os.Stderr, "WARNING:", t.Name()+":", msg)
	t.Skip(msg)
	return ""
}

// stepDir returns the folder of a step, or skips the test when that step has
// not been written yet.
func stepDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if inCI() {
			t.Fatalf("step folder %s is missing", name)
		}
		t.Skipf("step folder %s does not exist yet: nothing to test", name)
	}
	return dir
}

// buildStep compiles a step's server into a temporary folder, as a reader
// would with `go build` inside the step folder (alone, without go.work).
func buildStep(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", filepath.Base(dir), err, out)
	}
	return bin
}

// server is one running step server, a child process.
type server struct {
	t    *testing.T
	bin  string
	args []string
	Addr string // host:port it listens on
	URL  string // http://host:port

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error // receives the result of cmd.Wait
}

// startServer starts bin with -addr 127.0.0.1:0 and args, and waits for its
// "listening" log line to learn the port.
func startServer(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	s := &server{t: t, bin: bin, args: args}
	s.start("127.0.0.1:0")
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("logs of %s on %s:\n%s", filepath.Base(bin), s.Addr, s.logs)
		}
	})
	return s
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (s *server) start(addr string) {
	t := s.t
	t.Helper()
	s.logs = &syncBuffer{}
	cmd := exec.Command(s.bin, append([]string{"-addr", addr}, s.args...)...)
	cmd.Env = append(os.Environ(), "SESSION_SECRET="+testSecret)
	cmd.Stdout = s.logs
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	listening := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.logs, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	s.done = make(chan error, 1)
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		s.done <- cmd.Wait()
	}()
	select {
	case a := <-listening:
		s.Addr, s.URL = a, "http://"+a
	case err := <-s.done:
		s.done <- err
		t.Fatalf("%s stopped before listening: %v\nlogs:\n%s", filepath.Base(s.bin), err, s.logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not listen within 20s; logs:\n%s", filepath.Base(s.bin), s.logs)
	}
}

// Stop shuts the server down as an operator would (SIGTERM), and kills it if
// it does not stop in time. It reports an unclean exit as a test error.
func (s *server) Stop() {
	if s.cmd == nil {
		return
	}
	cmd := s.cmd
	s.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("%s did not exit cleanly: %v", filepath.Base(s.bin), err)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-s.done
		s.t.Errorf("%s did not stop within 15s of SIGTERM", filepath.Base(s.bin))
	}
}

// Restart stops the process and starts a new one on the same address with
// the same arguments: what a deploy does.
func (s *server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start(s.Addr)
}

// syncBuffer collects a child's output for the failure message.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newBrowser starts a headless Chromium with a fresh profile and returns the
// context of its first tab. The browser ends with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := requireTool(t, chromiumPath, "apt-get install chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in containers, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The machine may have no internet: nothing must try to reach it.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportWidth, viewportHeight),
		// Not "HeadlessChrome": the sessions pages show the user agent.
		chromedp.UserAgent(desktopUA),
	)
	// A deadline for the whole browser: a hung browser fails the test rather
	// than the whole go test run.
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 4*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit, before TempDir removes its profile
		cancelTimeout()
	})
	if err := chromedp.Do(tab, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return tab
}

// newBrowserContext opens a tab in a new browser context of the same browser:
// its own cookie jar, like a second browser on the same machine.
func newBrowserContext(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	other, cancel := chromedp.NewContext(tab, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(other, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatalf("open a second browser context: %v", err)
	}
	return other
}

// do runs browser actions that return nothing, within actionTimeout.
func do(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v%s", what, err, describe(tab))
	}
}

// run runs one browser action and returns its value, within actionTimeout.
func run[T any](t *testing.T, tab context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v%s", what, err, describe(tab))
	}
	return v
}

// navigate loads a URL as if typed in the address bar and returns the HTTP
// status of the page the browser ends up on.
func navigate(t *testing.T, tab context.Context, url string) int64 {
	t.Helper()
	return status(t, tab, "open "+url, chromedp.Navigate(url))
}

// reload reloads the page and returns its status.
func reload(t *testing.T, tab context.Context) int64 {
	t.Helper()
	return status(t, tab, "reload", chromedp.Reload())
}

// click clicks an element that loads a new page (a link or a form's button)
// and returns the status of the page the browser ends up on, after redirects.
// The header's links have no ids: "nav-home" and "nav-visits" name them.
func click(t *testing.T, tab context.Context, id string) int64 {
	t.Helper()
	switch id {
	case "nav-home":
		return status(t, tab, "click the home link", chromedp.Click(chromedp.CSS(`header a[href="/"]`)))
	case "nav-visits":
		return status(t, tab, "click the visits link", chromedp.Click(chromedp.CSS(`a[href="/visits"]`)))
	}
	return status(t, tab, "click #"+id, chromedp.Click(chromedp.ID(id)))
}

// status runs actions that load a page and returns the page's HTTP status.
func status(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		t.Fatalf("%s: %v%s", what, err, describe(tab))
	}
	if resp == nil {
		// The page came from a cache or bfcache: no response. Callers that
		// care look at the page itself.
		return 0
	}
	return resp.Status
}

// goBack presses the browser's Back button n times (in one go, as its
// drop-down does) and waits until the older page is shown, whether the
// browser asked the server again or took it from a cache: a page restored
// from a cache fires no load event, so this watches the document instead.
func goBack(t *testing.T, tab context.Context, n int) {
	t.Helper()
	h := run(t, tab, "read the history", chromedp.NavigationEntries())
	i := int(h.CurrentIndex) - n
	if i < 0 {
		t.Fatalf("cannot go back %d pages: only %d in the history", n, h.CurrentIndex)
	}
	entry := h.Entries[i]
	// The marker is on the page we leave; the page we go back to lacks it.
	do(t, tab, "mark the page", evalVoid(`window.e2eLeftPage = true`))
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, cdppage.NavigateToHistoryEntry, cdppage.NavigateToHistoryEntryParams{EntryID: entry.ID}); err != nil {
		t.Fatalf("go back to %s: %v", entry.URL, err)
	}
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.e2eLeftPage !== true && document.readyState === "complete"`))
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("go back to %s: the page did not change within %s%s", entry.URL, actionTimeout, describe(tab))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fill types into the fields of the page's form, by element id.
func fill(t *testing.T, tab context.Context, fields ...string) {
	t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		do(t, tab, "type into #"+fields[i],
			chromedp.Clear(chromedp.ID(fields[i])),
			chromedp.SendKeys(chromedp.ID(fields[i]), fields[i+1]))
	}
}

// pageInfo is what a person sees on the current page, read without waiting:
// "" for an element that is not there.
type pageInfo struct {
	URL       string `json:"url"`
	Title     string `json:"title"`
	SignedIn  string `json:"signedIn"`  // text of #signed-in
	LoginForm bool   `json:"loginForm"` // a form that posts to /login
	Error     string `json:"error"`     // text of #error
	Visits    string `json:"visits"`    // text of #visits
	Who       string `json:"who"`       // text of #who: the user named in the header
	Text      string `json:"text"`      // the whole visible text
}

const pageInfoJS = `(() => {
	const text = id => { const e = document.getElementById(id); return e ? e.textContent.trim() : ""; };
	return {
		url: location.href,
		title: document.title,
		signedIn: text("signed-in"),
		loginForm: document.querySelector('form[action="/login"]') !== null,
		error: text("error"),
		visits: text("visits"),
		who: text("who"),
		text: document.body ? document.body.innerText : "",
	};
})()`

// page reads the current page.
func page(t *testing.T, tab context.Context) pageInfo {
	t.Helper()
	return run(t, tab, "read the page", chromedp.Evaluate[pageInfo](pageInfoJS))
}

// describe is the page's URL and text, for failure messages.
func describe(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[pageInfo](pageInfoJS))
	if err != nil {
		return ""
	}
	return fmt.Sprintf("\npage %s:\n%s", p.URL, p.Text)
}

// wantSignedIn fails unless the page says that user is signed in.
func wantSignedIn(t *testing.T, tab context.Context, user, when string) {
	t.Helper()
	p := page(t, tab)
	if want := "Signed in as " + user; p.SignedIn != want || p.LoginForm {
		t.Fatalf("%s: #signed-in = %q, login form shown = %v; want %q and no login form\npage %s:\n%s", when, p.SignedIn, p.LoginForm, want, p.URL, p.Text)
	}
}

// wantSignedOut fails unless the page shows the login form and nobody as
// signed in.
func wantSignedOut(t *testing.T, tab context.Context, when string) {
	t.Helper()
	p := page(t, tab)
	if p.SignedIn != "" || !p.LoginForm || strings.Contains(p.Text, "Signed in as") {
		t.Fatalf("%s: #signed-in = %q, login form shown = %v; want signed out with the login form\npage %s:\n%s", when, p.SignedIn, p.LoginForm, p.URL, p.Text)
	}
}

// login signs in through the home page's form and returns the status of the
// page it ends on.
func login(t *testing.T, tab context.Context, baseURL, user, password string) int64 {
	t.Helper()
	navigate(t, tab, baseURL+"/")
	fill(t, tab, "username", user, "password", password)
	return click(t, tab, "login")
}

// sessionCookie is the name of every step's session cookie (step 1's login
// cookie too): Secure, so it takes the __Host- prefix, which no sibling host
// can plant. Chromium keeps and sends it on http://127.0.0.1 all the same,
// a loopback address counting as a secure origin.
const sessionCookie = "__Host-session"

// cookie returns the browser's cookie of that name for baseURL, HttpOnly ones
// included: what the browser stores, not what a script can see.
func cookie(t *testing.T, tab context.Context, baseURL, name string) (*network.Cookie, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{baseURL + "/"}})
	if err != nil {
		t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// setCookie stores a cookie in the browser from outside the page, as a
// forger with access to the browser's cookie jar would. It has the attributes
// the app gives its cookies, so that it replaces the app's own.
func setCookie(t *testing.T, tab context.Context, baseURL, name, value string, httpOnly bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: name, Value: value, URL: baseURL + "/", Path: "/",
		Secure: ptr(true), HTTPOnly: ptr(httpOnly), SameSite: network.CookieSameSiteLax,
	})
	if err != nil {
		t.Fatalf("set cookie %s: %v", name, err)
	}
}

func ptr[T any](v T) *T { return &v }

// evalVoid runs a script in the page and ignores its result.
func evalVoid(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](js)
}

// documentCookie is what the page's scripts see of the cookies.
func documentCookie(t *testing.T, tab context.Context) string {
	t.Helper()
	return run(t, tab, "read document.cookie", chromedp.Evaluate[string](`document.cookie`))
}

// screenshot writes the visible page to ../docs/screenshots/<name>.png when
// the suite runs with -update-screenshots, and does nothing otherwise.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	if !*updateScreenshots {
		return
	}
	png := run(t, tab, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// freePort returns a TCP port on 127.0.0.1 that nobody listened on a moment
// ago, for programs (redis-server) that cannot report the port they chose.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// redisServer is a redis-server of the test's own, without persistence, that
// the test can stop and start again.
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	Port int
	cmd  *exec.Cmd
	done chan error
	logs *syncBuffer
}

// URL is what the app's -redis flag takes.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin := requireTool(t, "redis-server", "apt-get install redis-server")
	r := &redisServer{t: t, bin: bin, dir: t.TempDir(), Port: freePort(t)}
	r.Start()
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("logs of redis-server:\n%s", r.logs)
		}
	})
	return r
}

// Start starts redis-server on r.Port and waits until it answers PING.
func (r *redisServer) Start() {
	t := r.t
	t.Helper()
	r.logs = &syncBuffer{}
	cmd := exec.Command(r.bin, "--port", fmt.Sprint(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.cmd = cmd
	r.done = make(chan error, 1)
	go func() { r.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := redisPing(r.Port); err == nil {
			return
		}
		select {
		case err := <-r.done:
			r.cmd = nil
			t.Fatalf("redis-server exited: %v\n%s", err, r.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not answer PING within 10s\n%s", r.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops redis-server: what an outage looks like to the app.
func (r *redisServer) Stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

// redisPing speaks just enough of the Redis protocol to see it is up.
func redisPing(port int) error {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return errors.New("unexpected answer to PING: " + line)
	}
	return nil
}

// netLog records the tab's HTTP traffic as the browser's network panel
// shows it: each request with its method, the cookies the browser sent with
// it, and the response's status (a redirect is a response too).
type netLog struct {
	mu      sync.Mutex
	hops    []*netEntry
	current map[network.RequestID]*netEntry // a redirect reuses the id for its next hop
}

type netEntry struct {
	Method, URL string
	Headers     network.Headers // as sent, with Origin and Sec-Fetch-Site
	Cookies     []string        // names of the cookies sent
	Status      int64           // 0 until the response arrives
}

// recordNetwork starts recording the tab's requests.
func recordNetwork(t *testing.T, tab context.Context) *netLog {
	t.Helper()
	l := &netLog{current: map[network.RequestID]*netEntry{}}
	entry := func(id network.RequestID) *netEntry {
		e := l.current[id]
		if e == nil {
			e = &netEntry{}
			l.current[id] = e
			l.hops = append(l.hops, e)
		}
		return e
	}
	err := chromedp.Listen(tab, func(ev any) {
		// This runs in the tab's event loop: record and return.
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			e := entry(ev.RequestID)
			if ev.RedirectResponse != nil {
				e.Status = ev.RedirectResponse.Status
				e = &netEntry{}
				l.current[ev.RequestID] = e
				l.hops = append(l.hops, e)
			}
			e.Method, e.URL = ev.Request.Method, ev.Request.URL
		case *network.EventRequestWillBeSentExtraInfo:
			e := entry(ev.RequestID)
			e.Headers, e.Cookies = ev.Headers, nil
			for _, c := range ev.AssociatedCookies {
				if len(c.BlockedReasons) == 0 {
					e.Cookies = append(e.Cookies, c.Cookie.Name)
				}
			}
		case *network.EventResponseReceived:
			entry(ev.RequestID).Status = ev.Response.Status
		}
	})
	if err != nil {
		t.Fatalf("record network: %v", err)
	}
	return l
}

// wait returns the first request with that method and URL once its response
// has arrived.
func (l *netLog) wait(t *testing.T, method, url string) netEntry {
	t.Helper()
	deadline := time.Now().Add(actionTimeout)
	for {
		l.mu.Lock()
		for _, e := range l.hops {
			if e.Method == method && e.URL == url && e.Status != 0 {
				found := *e
				l.mu.Unlock()
				return found
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no response to %s %s within %s", method, url, actionTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two browsers' user agents, so that the sessions page tells them apart.
const (
	desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	phoneUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)

// setUserAgent makes the tab send ua as its User-Agent from now on.
func setUserAgent(t *testing.T, tab context.Context, ua string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua}); err != nil {
		t.Fatalf("set the user agent: %v", err)
	}
}

// signup creates an account through the signup form, which signs it in.
func signup(t *testing.T, tab context.Context, baseURL, user, password string) {
	t.Helper()
	navigate(t, tab, baseURL+"/")
	fill(t, tab, "username", user, "password", password)
	click(t, tab, "signup")
	wantSignedIn(t, tab, user, "after signup")
}
