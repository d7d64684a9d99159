package devstack

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is Redis Cluster's fixed number of hash slots.
const clusterSlots = 16384

// startRedis starts one Redis, or with cfg.RedisClusterNodes a Redis Cluster
// of that many masters (with cfg.RedisClusterReplicas replicas each), and
// returns the URL for REDIS_URL (see knative/stores.OpenRedisURL).
func (s *Stack) startRedis(ctx context.Context, cfg Config) (string, error) {
	bin, err := findBinary("redis-server", "redis-server", cfg.InstallMissing)
	if err != nil {
		return "", err
	}
	password, err := secret(filepath.Join(cfg.StateDir, "secrets", "redis-password"))
	if err != nil {
		return "", err
	}
	nodes := max(cfg.RedisClusterNodes, 1) * (1 + cfg.RedisClusterReplicas)
	ports := make([]int, nodes)
	for i := range nodes {
		dir, name := filepath.Join(cfg.StateDir, "redis"), "redis"
		extra := ""
		if cfg.RedisClusterNodes > 0 {
			dir, name = filepath.Join(dir, "node-"+strconv.Itoa(i)), "redis-"+strconv.Itoa(i)
			// masterauth lets a node that becomes a replica log in to its master.
			// A replica syncs at once, not after the 5 s a master waits for more to sync together.
			extra = "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 5000\nmasterauth " + password +
				"\nrepl-diskless-sync-delay 0\n"
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		configured := cfg.RedisPort
		if configured > 0 {
			configured += i
		}
		ports[i], err = s.onFreePort("Redis", configured, DefaultRedisPort+i, func(port int) (*server, error) {
			// The password goes in a 0600 file, not on the command line where ps shows it.
			conf := filepath.Join(dir, "redis.conf")
			body := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode yes\ndir %s\nappendonly yes\nappendfsync everysec\nrequirepass %s\ndaemonize no\n%s",
				port, dir, password, extra)
			if extra != "" && configured < 0 {
				// A node's cluster bus defaults to its port + 10000, past
				// 65535 for a random port above 55535 (Redis refuses to
				// start) and maybe taken: give it a free port of its own.
				// Configured ports keep the default, which restarts share.
				bus, err := randomPort()
				if err != nil {
					return nil, err
				}
				body += fmt.Sprintf("cluster-port %d\n", bus)
			}
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				return nil, err
			}
			srv, err := startServer(name, exec.Command(bin, conf), syscall.SIGTERM, filepath.Join(cfg.StateDir, name+".log"))
			if err != nil {
				return nil, err
			}
			client := redis.NewClient(nodeOptions(password, port))
			defer client.Close()
			return srv, srv.waitFor(ctx, 30*time.Second, func(ctx context.Context) error { return client.Ping(ctx).Err() })
		})
		if err != nil {
			return "", err
		}
	}
	if cfg.RedisClusterNodes > 0 {
		if err := formCluster(ctx, password, ports, cfg.RedisClusterNodes, s.servers[len(s.servers)-1]); err != nil {
			return "", fmt.Errorf("devstack: Redis Cluster: %w", err)
		}
		s.log.Info("redis cluster ready", "ports", ports)
		return redisClusterURL(password, ports), nil
	}
	s.log.Info("redis ready", "port", ports[0])
	return redisURL(password, ports[0]), nil
}

// formCluster gives each of the first masters nodes an equal range of the
// slots and makes the rest their replicas in turn, unless the nodes already
// form a cluster (a restart: nodes.conf remembers it), makes them meet, and
// waits until every node reports the cluster healthy and every replica has
// synced.
func formCluster(ctx context.Context, password string, ports []int, masters int, last *server) error {
	clients := make([]*redis.Client, len(ports))
	for i, port := range ports {
		clients[i] = redis.NewClient(nodeOptions(password, port))
		defer clients[i].Close()
	}
	info, err := clients[0].ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	formed := strings.Contains(info, "cluster_slots_assigned:"+strconv.Itoa(clusterSlots))
	if !formed {
		// Every node its own config epoch, as redis-cli --cluster create
		// gives them: left to settle by collision, a replica could keep
		// its master's, and a TAKEOVER that finds its epoch already the
		// highest claims the slots without a new one and may lose them back.
		for i, c := range clients {
			if err := c.Do(ctx, "cluster", "set-config-epoch", i+1).Err(); err != nil {
				return fmt.Errorf("node %d: config epoch: %w", i, err)
			}
		}
		for i, c := range clients[:masters] {
			first, last := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
			if err := c.Do(ctx, "cluster", "addslotsrange", first, last).Err(); err != nil {
				return fmt.Errorf("node %d: slots %d-%d: %w", i, first, last, err)
			}
		}
		for i, port := range ports[1:] {
			// The node's cluster bus: its own cluster-port, or 0 for the
			// default, port + 10000 (which MEET assumes without one).
			bus, err := clients[i+1].ConfigGet(ctx, "cluster-port").Result()
			if err != nil {
				return fmt.Errorf("node %d: cluster-port: %w", port, err)
			}
			args := []any{"cluster", "meet", "127.0.0.1", port}
			if bus["cluster-port"] != "0" {
				args = append(args, bus["cluster-port"])
			}
			if err := clients[0].Do(ctx, args...).Err(); err != nil {
				return fmt.Errorf("meet %d: %w", port, err)
			}
		}
	}
	// The nodes learn of each other by gossip, in about a second. Waited
	// for as a server's start is, on the last node. A replica can follow
	// its master only once it has heard of it.
	replicating := formed
	return last.waitFor(ctx, 30*time.Second, func(ctx context.Context) error {
		if !replicating {
			for i, c := range clients[masters:] {
				id, err := clients[i%masters].ClusterMyID(ctx).Result()
				if err != nil {
					return err
				}
				if err := c.ClusterReplicate(ctx, id).Err(); err != nil {
					return fmt.Errorf("%s: replicate %s: %w", c.Options().Addr, clients[i%masters].Options().Addr, err)
				}
			}
			replicating = true
		}
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(ports))) ||
				!strings.Contains(info, "cluster_size:"+strconv.Itoa(masters)+"\r") {
				return fmt.Errorf("%s: the nodes do not agree on a healthy cluster yet", c.Options().Addr)
			}
			repl, err := c.Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if !strings.Contains(repl, "role:master") && !strings.Contains(repl, "master_link_status:up") {
				return fmt.Errorf("%s: a replica not in sync yet", c.Options().Addr)
			}
		}
		return nil
	})
}

func nodeOptions(password string, port int) *redis.Options {
	return &redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password}
}

func redisURL(password string, port int) string {
	u := url.URL{Scheme: "redis", User: url.UserPassword("default", password), Host: "127.0.0.1:" + strconv.Itoa(port), Path: "/0"}
	return u.String()
}

// redisClusterURL names the first node as the host and the others as seeds,
// the form go-redis's ParseClusterURL reads, with cluster=true.
func redisClusterURL(password string, ports []int) string {
	q := url.Values{"cluster": {"true"}}
	for _, port := range ports[1:] {
		q.Add("addr", "127.0.0.1:"+strconv.Itoa(port))
	}
	u := url.URL{Scheme: "redis", User: url.UserPassword("default", password), Host: "127.0.0.1:" + strconv.Itoa(ports[0]), RawQuery: q.Encode()}
	return u.String()
}
