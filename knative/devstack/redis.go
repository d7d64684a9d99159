package devstack

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func (s *Stack) startRedis(ctx context.Context, cfg Config) (string, error) {
	bin, err := findBinary("redis-server", "redis-server", cfg.InstallMissing)
	if err != nil {
		return "", err
	}
	password, err := secret(filepath.Join(cfg.StateDir, "secrets", "redis-password"))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cfg.StateDir, "redis")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	port, err := s.onFreePort("Redis", cfg.RedisPort, DefaultRedisPort, func(port int) (*server, error) {
		// The password goes in a 0600 file, not on the command line where ps shows it.
		conf := filepath.Join(dir, "redis.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode yes\ndir %s\nappendonly yes\nappendfsync everysec\nrequirepass %s\ndaemonize no\n",
			port, dir, password)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, err
		}
		srv, err := startServer("redis", exec.Command(bin, conf), syscall.SIGTERM, filepath.Join(cfg.StateDir, "redis.log"))
		if err != nil {
			return nil, err
		}
		opts, err := redis.ParseURL(redisURL(password, port))
		if err != nil {
			return srv, err
		}
		client := redis.NewClient(opts)
		defer client.Close()
		return srv, srv.waitFor(ctx, 30*time.Second, func(ctx context.Context) error { return client.Ping(ctx).Err() })
	})
	if err != nil {
		return "", err
	}
	s.log.Info("redis ready", "port", port, "data", dir)
	return redisURL(password, port), nil
}

func redisURL(password string, port int) string {
	u := url.URL{Scheme: "redis", User: url.UserPassword("default", password), Host: "127.0.0.1:" + strconv.Itoa(port), Path: "/0"}
	return u.String()
}
