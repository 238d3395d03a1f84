package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTimeout bounds each Redis operation, go-redis' own retries included:
// while Redis is down or hangs, a request gets its 503 after this long at
// most.
const redisTimeout = 2 * time.Second

// connectRedis returns a client for a Redis URL (-redis or REDIS_URL), and
// the addresses it names (for the log), read
// by go-redis' own parser for its topology:
//
//	redis://[user:password@]host:6379/0   one server (rediss:// for TLS), ParseURL
//	unix:///run/redis/redis.sock           one server, on a unix socket
//	redis://s1:26379?master_name=mymaster&addr=s2:26379
//	                                       Sentinel: the sentinels and the
//	                                       master's name, ParseFailoverURL
//	redis://n1:6379?cluster=true&addr=n2:6379
//	                                       Cluster: some of its nodes
//	                                       (addr= alone says it too),
//	                                       ParseClusterURL
//
// A one-server URL whose server answers CLUSTER INFO at start is a Cluster
// node, and gets a Cluster client. The parsers refuse the parameters they
// do not know; this function those they know that would be ignored here or
// would read sessions from a replica. A password belongs in REDIS_URL rather
// than in -redis: flags show in ps.
func connectRedis(ctx context.Context, rawURL string, logger *slog.Logger) (redis.UniversalClient, []string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, errors.New("redis URL: not a URL") // url's error repeats the URL, password and all
	}
	q := u.Query()
	for _, p := range []string{"read_only", "replica_only", "route_by_latency", "route_randomly", "use_disconnected_replicas", "context_timeout_enabled"} {
		if q.Has(p) {
			return nil, nil, fmt.Errorf("redis URL: %s is refused: sessions are read from the master only, and every command is bounded by the request's deadline", p)
		}
	}
	switch {
	case q.Has("master_name"):
		opt, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, nil, fmt.Errorf("redis URL (Sentinel): %w", err)
		}
		// One dial per attempt (go-redis retries the command anyway), unless
		// the URL says otherwise: the 503 comes sooner while Redis is down.
		opt.ContextTimeoutEnabled, opt.DialerRetries = true, cmp.Or(opt.DialerRetries, 1)
		return redis.NewFailoverClient(opt), opt.SentinelAddrs, nil
	case q.Has("cluster") || q.Has("addr"):
		return clusterClient(u)
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("redis URL: %w", err)
	}
	opt.ContextTimeoutEnabled, opt.DialerRetries = true, cmp.Or(opt.DialerRetries, 1)
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if client.ClusterInfo(ctx).Err() != nil { // not a Cluster node (or not answering: cluster=true says it without asking)
		return client, []string{opt.Addr}, nil
	}
	client.Close()
	logger.Info("redis: the URL names a Cluster node: using it as a Cluster")
	return clusterClient(u)
}

// clusterClient returns a Cluster client for the URL u.
func clusterClient(u *url.URL) (redis.UniversalClient, []string, error) {
	q := u.Query()
	// ParseClusterURL would ignore a database, and knows no cluster=.
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" || q.Has("cluster") && q.Get("cluster") != "true" {
		return nil, nil, errors.New("redis URL (Cluster): the only cluster= is cluster=true, and a Cluster has database 0 only")
	}
	q.Del("cluster")
	u.RawQuery = q.Encode()
	opt, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, nil, fmt.Errorf("redis URL (Cluster): %w", err)
	}
	opt.ContextTimeoutEnabled, opt.DialerRetries = true, cmp.Or(opt.DialerRetries, 1)
	// go-redis reloads its map of the slots at once on MOVED, but not when a
	// master stops answering: with its default (60s) a failover left a third
	// of the sessions on 503 for a minute after Redis had promoted a replica.
	opt.ClusterStateReloadInterval = time.Second
	return redis.NewClusterClient(opt), opt.Addrs, nil
}
