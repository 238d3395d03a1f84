package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium (apt package chromium), as in e2e/.
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds one browser action: an element that never shows up
// ends the attack with a message instead of hanging it.
const browserTimeout = 20 * time.Second

// browser is one headless Chromium for the whole lab; each cell gets a
// browser context of its own (its own cookie jar, like a fresh profile).
type browser struct {
	ctx    context.Context // of its first tab: the browser lives as long as it
	cancel func()
}

func startBrowser(ctx context.Context, profile string) (*browser, error) {
	path, err := exec.LookPath(chromiumPath)
	if err != nil {
		return nil, fmt.Errorf("chromium not found (install it: sudo apt-get install chromium): %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the lab may run as root in a container, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The machine may have no internet: nothing must try to reach it.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{ctx: tab, cancel: func() { cancelTab(); cancelAlloc() }}
	if err := chromedp.Do(tab); err != nil { // starts the browser
		b.cancel()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return b, nil
}

func (b *browser) close() { b.cancel() }

// tab opens a tab in a new browser context: a browser of the victim's own,
// with an empty cookie jar. It closes when the cell ends.
func (c *cell) tab() context.Context {
	l := c.lab
	l.mu.Lock()
	if l.browser == nil && l.browserErr == nil {
		l.browser, l.browserErr = startBrowser(l.ctx, filepath.Join(l.tmp, "chromium"))
	}
	err := l.browserErr
	l.mu.Unlock()
	if err != nil {
		c.fatalf("%v", err)
	}
	tab, cancel := chromedp.NewContext(l.browser.ctx, chromedp.WithNewBrowserContext())
	c.cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		c.fatalf("open a browser tab: %v", err)
	}
	return tab
}

// load runs browser actions that load a page, waits for it and returns its
// HTTP status (0 when it came from a cache).
func (c *cell) load(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	ctx, cancel := context.WithTimeout(tab, browserTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		c.fatalf("browser: %s: %v", what, err)
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// evalString runs a script in the page and returns its value as a string.
func (c *cell) evalString(tab context.Context, js string) string {
	ctx, cancel := context.WithTimeout(tab, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		c.fatalf("browser: run %q: %v", js, err)
	}
	return v
}

// browserLogin signs in through the home page's form, as a person would.
func (c *cell) browserLogin(tab context.Context, srv *server, a account) {
	c.load(tab, "open "+srv.URL, chromedp.Navigate(srv.URL+"/"))
	ctx, cancel := context.WithTimeout(tab, browserTimeout)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("username"), a.name),
		chromedp.SendKeys(chromedp.ID("password"), a.password))
	if err != nil {
		c.fatalf("browser: fill the login form: %v", err)
	}
	c.load(tab, "sign in", chromedp.Click(chromedp.ID("login")))
	if who := c.browserUser(tab, srv); who != a.name {
		c.fatalf("browser: after signing in as %s the home page shows %q", a.name, who)
	}
}

// browserUser opens the home page and returns who it says is signed in
// ("" for nobody).
func (c *cell) browserUser(tab context.Context, srv *server) string {
	c.load(tab, "open "+srv.URL, chromedp.Navigate(srv.URL+"/"))
	text := c.evalString(tab, `(document.getElementById("signed-in") || {textContent: ""}).textContent.trim()`)
	return strings.TrimPrefix(text, "Signed in as ")
}

// browserCookie returns the browser's cookie of that name for srv, HttpOnly
// ones included: what the browser keeps, not what a script can see.
func (c *cell) browserCookie(tab context.Context, srv *server, name string) (*network.Cookie, bool) {
	ctx, cancel := context.WithTimeout(tab, browserTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL + "/"}})
	if err != nil {
		c.fatalf("browser: read cookies: %v", err)
	}
	for _, ck := range res.Cookies {
		if ck.Name == name {
			return ck, true
		}
	}
	return nil, false
}

// sentRequest is one request as the browser's network panel shows it.
type sentRequest struct {
	method, url string
	cookies     []string // names of the cookies sent with it
	status      int64    // 0 until the answer arrives
}

// watchRequests records the tab's requests to url, for the evidence: which
// cookies the browser sent and what the server answered.
func (c *cell) watchRequests(tab context.Context, url string) func() []sentRequest {
	var mu sync.Mutex
	byID := map[network.RequestID]*sentRequest{}
	var all []*sentRequest
	err := chromedp.Listen(tab, func(ev any) {
		// This runs in the tab's event loop: record and return.
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if r := byID[ev.RequestID]; r != nil && ev.RedirectResponse != nil {
				r.status = ev.RedirectResponse.Status
			}
			delete(byID, ev.RequestID)
			if ev.Request.URL == url {
				r := &sentRequest{method: ev.Request.Method, url: ev.Request.URL}
				byID[ev.RequestID] = r
				all = append(all, r)
			}
		case *network.EventRequestWillBeSentExtraInfo:
			if r := byID[ev.RequestID]; r != nil {
				for _, ck := range ev.AssociatedCookies {
					if len(ck.BlockedReasons) == 0 {
						r.cookies = append(r.cookies, ck.Cookie.Name)
					}
				}
			}
		case *network.EventResponseReceived:
			if r := byID[ev.RequestID]; r != nil {
				r.status = ev.Response.Status
			}
		}
	})
	if err != nil {
		c.fatalf("browser: watch the network: %v", err)
	}
	return func() []sentRequest {
		mu.Lock()
		defer mu.Unlock()
		out := make([]sentRequest, len(all))
		for i, r := range all {
			out[i] = *r
		}
		return out
	}
}

// waitRequest waits until the browser has sent a request to url and had its
// answer.
func (c *cell) waitRequest(seen func() []sentRequest, method, url string) sentRequest {
	deadline := time.Now().Add(browserTimeout)
	for {
		for _, r := range seen() {
			if r.method == method && r.status != 0 {
				return r
			}
		}
		if time.Now().After(deadline) {
			c.fatalf("browser: no answer to %s %s within %s", method, url, browserTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSettled waits until the tab shows a page of srv, fully loaded: the
// answer to a form, after its redirect if any.
func (c *cell) waitSettled(tab context.Context, srv *server) {
	deadline := time.Now().Add(browserTimeout)
	js := fmt.Sprintf(`location.href.startsWith(%q) && document.readyState === "complete"`, srv.URL)
	for {
		ctx, cancel := context.WithTimeout(tab, browserTimeout)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			c.fatalf("browser: no page of %s within %s (last error: %v)", srv.URL, browserTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// evilPage serves the attacker's page: form, then a script that submits it
// as soon as the page loads. It returns the page's URL on host (localhost or
// 127.0.0.1: two sites to the browser, though both are this machine).
func (c *cell) evilPage(host, form string, args ...any) string {
	page := fmt.Sprintf(`<!doctype html><title>You won a prize</title>`+form+
		`<script>document.forms[0].submit()</script>`, args...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	c.cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", host, 1)
}

// submitFrom opens the attacker's page in the victim's tab, waits for the
// form it submits to path to be answered and for the page to settle, and
// returns that request as the browser sent it.
func (c *cell) submitFrom(tab context.Context, evil string, srv *server, path string) sentRequest {
	seen := c.watchRequests(tab, srv.URL+path)
	c.load(tab, "open the attacker's page", chromedp.Navigate(evil))
	req := c.waitRequest(seen, http.MethodPost, srv.URL+path)
	c.waitSettled(tab, srv)
	return req
}
