package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// result is what a run measured. Latencies are in milliseconds.
type result struct {
	Label      string         `json:"label,omitempty"`
	Target     string         `json:"target"`
	Route      string         `json:"route"`
	Rate       int            `json:"rate"`
	Workers    uint64         `json:"workers"`
	Duration   float64        `json:"duration_s"`
	Requests   uint64         `json:"requests"`
	Throughput float64        `json:"throughput"` // successful requests per second
	Success    float64        `json:"success_ratio"`
	P50        float64        `json:"p50_ms"`
	P90        float64        `json:"p90_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
	Statuses   map[string]int `json:"statuses"`
	Errors     []string       `json:"errors,omitempty"`
	ServerCPU  float64        `json:"server_cpu_us_per_request,omitempty"` // with -server-pid
	// With -flood: what the bogus logins sent meanwhile got.
	Flood         uint64         `json:"flood_workers,omitempty"`
	FloodRequests uint64         `json:"flood_requests,omitempty"`
	FloodStatuses map[string]int `json:"flood_statuses,omitempty"`
}

// floodAddr is the address of flood connection i, one of n in TEST-NET-1
// (RFC 5737).
func floodAddr(i uint64, n int) string { return fmt.Sprintf("192.0.2.%d", 1+i%uint64(max(n, 1))) }

// attack drives the route with vegeta, cycling through the users' cookies
// (or their credentials, for /login), and prints progress every second.
func attack(ctx context.Context, o options, users []user, progress io.Writer) (*result, error) {
	var next atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		u := users[next.Add(1)%uint64(len(users))]
		t.URL = o.target + o.route
		t.Header = http.Header{"Accept": {"application/json"}}
		if o.route == "/login" {
			body, _ := json.Marshal(map[string]string{"username": u.Name, "password": u.Password})
			t.Method, t.Body = "POST", body
			t.Header.Set("Content-Type", "application/json")
			if u.Addr != "" {
				t.Header.Set("X-Forwarded-For", u.Addr)
			}
			return nil
		}
		t.Method, t.Body = "GET", nil
		t.Header.Set("Cookie", u.Cookie)
		return nil
	}

	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(30 * time.Second), vegeta.Redirects(vegeta.NoFollow)}
	var pacer vegeta.Pacer = vegeta.Rate{Freq: o.rate, Per: time.Second}
	if o.rate == 0 {
		opts = append(opts, vegeta.Workers(o.workers), vegeta.MaxWorkers(o.workers), vegeta.Connections(int(o.workers)))
	} else {
		opts = append(opts, vegeta.Workers(o.workers))
	}
	attacker := vegeta.NewAttacker(opts...)

	var flood vegeta.Metrics
	floodDone := make(chan struct{})
	flooder := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(30*time.Second), vegeta.Redirects(vegeta.NoFollow),
		vegeta.Workers(o.flood), vegeta.MaxWorkers(o.flood), vegeta.Connections(int(o.flood)))
	if o.flood > 0 {
		go func() {
			defer close(floodDone)
			for r := range flooder.Attack(bogusLogins(o.target, o.floodIPs), vegeta.Rate{}, o.duration, "flood") {
				flood.Add(r)
			}
		}()
	} else {
		close(floodDone)
	}

	var m vegeta.Metrics
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	results := attacker.Attack(targeter, pacer, o.duration, o.route)
	start := time.Now()
	var count, failed uint64
loop:
	for {
		select {
		case <-ctx.Done():
			attacker.Stop()
			flooder.Stop()
		case r, ok := <-results:
			if !ok {
				break loop
			}
			m.Add(r)
			count++
			if r.Code < 200 || r.Code >= 400 {
				failed++
			}
		case <-tick.C:
			el := time.Since(start)
			fmt.Fprintf(progress, "  %4.0fs  %8d requests  %8.0f/s  %d errors\n", el.Seconds(), count, float64(count)/el.Seconds(), failed)
		}
	}
	m.Close()
	if m.Requests == 0 {
		return nil, fmt.Errorf("no request was sent")
	}
	<-floodDone
	flood.Close()

	res := &result{
		Label: o.label, Target: o.target, Route: o.route, Rate: o.rate, Workers: o.workers,
		Duration: m.Duration.Seconds(), Requests: m.Requests, Throughput: m.Throughput, Success: m.Success,
		P50: ms(m.Latencies.P50), P90: ms(m.Latencies.P90), P99: ms(m.Latencies.P99), Max: ms(m.Latencies.Max),
		Statuses: m.StatusCodes, Errors: m.Errors,
	}
	if o.flood > 0 {
		res.Flood, res.FloodRequests, res.FloodStatuses = o.flood, flood.Requests, flood.StatusCodes
	}
	return res, nil
}

// bogusLogins is a flood of logins for usernames that do not exist, a new
// one each time, from addrs addresses in turn (floodAddr).
func bogusLogins(target string, addrs int) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		i := n.Add(1)
		body, _ := json.Marshal(map[string]string{"username": fmt.Sprintf("flood-%d", i), "password": "not-the-password"})
		t.Method, t.URL, t.Body = "POST", target+"/login", body
		t.Header = http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}, "X-Forwarded-For": {floodAddr(i, addrs)}}
		return nil
	}
}

// burst logs every user in once, all at the same moment, each from their
// own address, and reports the statuses and the time to the last answer.
func burst(ctx context.Context, o options, users []user, progress io.Writer) (*result, error) {
	var m vegeta.Metrics
	results := make(chan *vegeta.Result, len(users))
	start := time.Now()
	for _, u := range users {
		go func() {
			body, _ := json.Marshal(map[string]string{"username": u.Name, "password": u.Password})
			req, _ := http.NewRequestWithContext(ctx, "POST", o.target+"/login", bytes.NewReader(body))
			req.Header = http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}, "X-Forwarded-For": {u.Addr}}
			t0 := time.Now()
			r := &vegeta.Result{Timestamp: t0}
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				r.Error = err.Error()
			} else {
				r.Code = uint16(resp.StatusCode)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			r.Latency = time.Since(t0)
			results <- r
		}()
	}
	for range users {
		m.Add(<-results)
	}
	m.Close()
	fmt.Fprintf(progress, "  %d logins answered in %v\n", len(users), time.Since(start).Round(time.Millisecond))
	return &result{
		Label: o.label, Target: o.target, Route: "/login (burst)", Workers: uint64(len(users)),
		Duration: time.Since(start).Seconds(), Requests: m.Requests, Throughput: m.Throughput, Success: m.Success,
		P50: ms(m.Latencies.P50), P90: ms(m.Latencies.P90), P99: ms(m.Latencies.P99), Max: ms(m.Latencies.Max),
		Statuses: m.StatusCodes, Errors: m.Errors,
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "route       %s %s\n", r.Target, r.Route)
	fmt.Fprintf(w, "requests    %d in %.1fs\n", r.Requests, r.Duration)
	fmt.Fprintf(w, "throughput  %.0f successful requests/s (success %.1f%%)\n", r.Throughput, 100*r.Success)
	fmt.Fprintf(w, "latency     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", r.P50, r.P90, r.P99, r.Max)
	codes := make([]string, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprint(w, "statuses   ")
	for _, c := range codes {
		fmt.Fprintf(w, " %s: %d", c, r.Statuses[c])
	}
	fmt.Fprintln(w)
	if r.ServerCPU > 0 {
		fmt.Fprintf(w, "server CPU  %.1fµs per request: %.0f requests/s per core\n", r.ServerCPU, 1e6/r.ServerCPU)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error       %s\n", e)
	}
	if r.Flood > 0 {
		fmt.Fprintf(w, "flood       %d bogus logins from %d connections meanwhile:", r.FloodRequests, r.Flood)
		for _, c := range slices.Sorted(maps.Keys(r.FloodStatuses)) {
			fmt.Fprintf(w, " %s: %d", c, r.FloodStatuses[c])
		}
		fmt.Fprintln(w)
	}
}
