package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/redis/go-redis/v9"
)

// anonymousBound is how many anonymous sessions a session step keeps at
// most: defaultMaxAnonymous in each step's sessions.go (step 5 counts the
// new ones per idle timeout).
const anonymousBound = 100_000

// floodPast is how many requests the flood sends beyond the bound.
const floodPast = 300

// anonymousFlood: the attacker sends cookieless requests to a page that
// makes a session (/visits), as fast as the server takes them, to fill its
// memory, disk or Redis, or to crowd out the users who are signed in. The
// contract bounds anonymous sessions, and a signed-in user must not notice.
//
// Steps 2 and 3 keep sessions in memory and take 100,000 requests in a few
// seconds, so the lab floods past the bound for real. Steps 4 and 5 write
// each session to SQLite or Redis, a few thousand a second: there the lab
// plays the first part of the flood itself (99,700 anonymous rows written
// into the SQLite file while the server is stopped; Redis's count of this
// window's anonymous sessions set to 99,700) and floods the rest for real.
func anonymousFlood(c *cell) verdict {
	srv := c.startServer(serverOptions{})
	a := c.victim(srv)
	already := 0
	if c.step >= 4 {
		already = anonymousBound - floodPast
		c.prefill(srv, already)
	}
	victim := c.signIn(srv, a)
	n := anonymousBound - already + floodPast

	// While the flood runs, the victim keeps using the site.
	done := make(chan struct{})
	checks := make(chan []int, 1)
	go func() { checks <- watchMe(srv, victim.cookies[sessionCookie], done) }()
	sessions, statuses, err := flood(srv.Addr, n)
	close(done)
	meStatuses := <-checks
	if err != nil {
		c.fatalf("flood: %v", err)
	}
	if statuses[http.StatusOK]+statuses[http.StatusTooManyRequests] != n {
		c.fatalf("flood: the answers' statuses were %v, want 200 (or 429: a limit per address)", statuses)
	}
	if c.step == 5 {
		c.checkPrefilled(already + n)
	}
	late := c.signIn(srv, a) // a new login, with the store full of anonymous sessions
	if user, status := late.me(); status != http.StatusOK {
		c.fatalf("/me of a login after the flood: %d %s", status, user)
	}
	served := 0
	for _, st := range meStatuses {
		if st == http.StatusOK {
			served++
		}
	}
	if served < len(meStatuses) {
		return works("the victim's /me during the flood: %v", meStatuses)
	}
	if sessions == n {
		return works("all %d cookieless visits got a new session (%d before them): no bound", n, already)
	}
	limited := ""
	if k := statuses[http.StatusTooManyRequests]; k > 0 {
		limited = fmt.Sprintf(" (%d of them answered 429)", k)
	}
	return stopped("%d anonymous sessions, then %d visits got none%s; the victim's /me: 200 to all %d checks during the flood, and a login after it works",
		already+sessions, n-sessions, limited, served)
}

// prefill puts n anonymous sessions in the store of a step 4 or 5 server,
// as n cookieless visits would.
func (c *cell) prefill(srv *server, n int) {
	switch srv.step {
	case 4:
		if err := srv.stop(); err != nil {
			c.fatalf("%v", err)
		}
		if err := insertAnonymous(filepath.Join(srv.dir, "step4.db"), n); err != nil {
			c.fatalf("write %d anonymous sessions into step4.db: %v", n, err)
		}
		if err := srv.start(srv.Addr); err != nil {
			c.fatalf("%v", err)
		}
	case 5:
		rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", c.redis().port)})
		defer rdb.Close()
		// The key and its meaning: step5-redis/redis_store.go, "<prefix>anonymous".
		if err := rdb.Set(context.Background(), c.redisPrefix()+"anonymous", n, 30*time.Minute).Err(); err != nil {
			c.fatalf("set the anonymous count in Redis: %v", err)
		}
	default:
		c.fatalf("prefill: step %d keeps its sessions in memory", srv.step)
	}
}

// checkPrefilled makes sure that step 5 counted the flood in the key that
// prefill set: if the store counted elsewhere, the prefill meant nothing,
// and the lab must be brought up to date.
func (c *cell) checkPrefilled(want int) {
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", c.redis().port)})
	defer rdb.Close()
	got, err := rdb.Get(context.Background(), c.redisPrefix()+"anonymous").Int()
	if err != nil || got != want {
		c.fatalf("Redis counted %d anonymous sessions (%v), want %d: step 5 no longer counts them where the lab's prefill puts them", got, err, want)
	}
}

// insertAnonymous writes n anonymous sessions into a step 4 database, each
// under the hash of an id nobody knows, live for the next 30 minutes: one
// statement, so that SQLite does the loop.
func insertAnonymous(path string, n int) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
		INSERT INTO sessions (id_hash, user, data, created_at, last_seen, idle_expires_at, absolute_expires_at)
		SELECT randomblob(32), NULL, '{"visits":1}', ?2, ?2, ?3, ?4 FROM n`,
		n, now.UnixMilli(), now.Add(30*time.Minute).UnixMilli(), now.Add(24*time.Hour).UnixMilli())
	return err
}

// flood sends n cookieless GET /visits over four connections, each request
// written without waiting for the answer to the one before (HTTP/1.1
// pipelining: the cheapest flood there is), and counts the answers that set
// a session cookie.
func flood(addr string, n int) (sessions int, statuses map[int]int, err error) {
	const conns = 4
	statuses = map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range conns {
		count := n / conns
		if i < n%conns {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, st, e := floodOne(addr, count)
			mu.Lock()
			defer mu.Unlock()
			sessions += s
			for code, k := range st {
				statuses[code] += k
			}
			if err == nil {
				err = e
			}
		}()
	}
	wg.Wait()
	return sessions, statuses, err
}

func floodOne(addr string, n int) (sessions int, statuses map[int]int, err error) {
	statuses = map[int]int{}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, statuses, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	req := []byte("GET /visits HTTP/1.1\r\nHost: " + addr + "\r\nAccept: application/json\r\n\r\n")
	written := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		for range n {
			if _, err := w.Write(req); err != nil {
				written <- err
				return
			}
		}
		written <- w.Flush()
	}()
	r := bufio.NewReaderSize(conn, 64<<10)
	for i := range n {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return sessions, statuses, fmt.Errorf("answer %d of %d: %w", i+1, n, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		for _, ck := range resp.Cookies() {
			if ck.Name == sessionCookie && ck.Value != "" && ck.MaxAge >= 0 {
				sessions++
			}
		}
	}
	return sessions, statuses, <-written
}

// watchMe asks /me with the victim's cookie every 100ms until done, and
// returns the statuses (0 for a request that failed).
func watchMe(srv *server, cookie string, done <-chan struct{}) []int {
	var statuses []int
	for {
		status := 0
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/me", nil)
		if err == nil {
			req.Header.Set("Accept", "application/json")
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
			if resp, err := httpClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
		}
		statuses = append(statuses, status)
		select {
		case <-done:
			return statuses
		case <-time.After(100 * time.Millisecond):
		}
	}
}
