package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// connectRedis returns a client for a Redis URL (-redis or REDIS_URL), read
// by go-redis' own parser for its topology:
//
//	redis://[user:password@]host:6379/0   one server (rediss:// for TLS), ParseURL
//	unix:///run/redis/redis.sock           one server, on a unix socket
//	redis://s1:26379?master_name=mymaster&addr=s2:26379
//	                                       Sentinel: the sentinels and the
//	                                       master's name, ParseFailoverURL
//	redis://n1:6379?addr=n2:6379           Cluster: two of its nodes or more
//	                                       (addr= without master_name),
//	                                       ParseClusterURL
//
// The parsers refuse the parameters they do not know; this function refuses
// those they know that would be ignored here, or would read sessions from a
// replica. A password belongs in REDIS_URL rather than in -redis: flags show
// in ps.
func connectRedis(rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redis URL: not a URL") // url's error repeats the URL, password and all
	}
	q := u.Query()
	for _, p := range []string{"read_only", "replica_only", "route_by_latency", "route_randomly", "use_disconnected_replicas", "context_timeout_enabled"} {
		if q.Has(p) {
			return nil, fmt.Errorf("redis URL: %s is refused: sessions are read from the master only, and every command is bounded by redisTimeout", p)
		}
	}
	var client redis.UniversalClient
	switch {
	case q.Has("master_name"):
		opt, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL (Sentinel): %w", err)
		}
		opt.ContextTimeoutEnabled = true
		client = redis.NewFailoverClient(opt)
	case q.Has("addr"):
		opt, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL (Cluster): %w", err)
		}
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return nil, errors.New("redis URL (Cluster): a Cluster has database 0 only")
		}
		opt.ContextTimeoutEnabled = true
		// go-redis reloads its map of the slots at once on MOVED, but not
		// when a master stops answering: with its default (60s) a failover
		// left a third of the sessions on 503 for a minute after Redis had
		// promoted a replica.
		opt.ClusterStateReloadInterval = time.Second
		client = redis.NewClusterClient(opt)
	default:
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		opt.ContextTimeoutEnabled = true
		client = redis.NewClient(opt)
	}
	client.AddHook(timeoutHook{})
	return client, nil
}

// redisTimeout bounds each Redis command, go-redis' own retries included:
// while Redis is down or hangs, a request gets its 503 after about this long.
const redisTimeout = 2 * time.Second

// timeoutHook gives every command redisTimeout at most
// (ContextTimeoutEnabled makes go-redis heed it).
type timeoutHook struct{}

func (timeoutHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (timeoutHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, cancel := context.WithTimeout(ctx, redisTimeout)
		defer cancel()
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook leaves pipelines as they are: the app sends none, only
// commands and scripts.
func (timeoutHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
