package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/parley-chat/parley/knative/devstack"
)

// centrifugo is a Centrifugo server with its Redis engine, on a Redis of
// its own that devstack starts as it starts Parley's (same package, same
// settings: append-only file, fsync every second).
type centrifugo struct {
	url, metrics string
	tokenKey     string // the HMAC key of its connection tokens, made for this run
	stack        *devstack.Stack
	cmd          *exec.Cmd
}

// centrifugoConfig is the configuration file: no secrets in it (they come
// in the environment), only what differs from Centrifugo's defaults.
// Clients publish themselves, into a namespace that lets subscribers
// publish: that is Parley's path (in on the sender's socket, through
// Redis, out to the members, the sender answered once the broker has it)
// where the server HTTP API would add an HTTP request per message and take
// the publish off the socket server's books.
func centrifugoConfig(port int) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"engine":      map[string]any{"type": "redis"},
		"channel": map[string]any{"namespaces": []map[string]any{{
			"name": "room", "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true}}},
		"prometheus":  map[string]any{"enabled": true},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true}, // it would report to the internet
	}, "", "  ")
}

func startCentrifugo(ctx context.Context, bin, dir string) (_ *centrifugo, err error) {
	stack, err := devstack.Up(ctx, devstack.Config{StateDir: filepath.Join(dir, "centrifugo"), Components: devstack.Redis,
		RedisPort: -1, Getenv: func(string) string { return "" }, Logger: quiet})
	if err != nil {
		return nil, err
	}
	c := &centrifugo{stack: stack, tokenKey: rand.Text()}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf, err := centrifugoConfig(port)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "centrifugo", "config.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "--config", confPath)
	// The key and Redis's password go in the environment (Centrifugo reads
	// CENTRIFUGO_<section>_<key>), not on the command line where ps shows them.
	c.cmd.Env = append(os.Environ(), "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY="+c.tokenKey,
		"CENTRIFUGO_ENGINE_REDIS_ADDRESS="+stack.RedisURL)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logFile, err := os.Create(filepath.Join(dir, "centrifugo", "centrifugo.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start centrifugo: %w", err)
	}
	c.url = "http://127.0.0.1:" + strconv.Itoa(port)
	c.metrics = c.url + "/metrics"
	if err := waitReady(ctx, c.url+"/health", time.Minute); err != nil {
		return nil, fmt.Errorf("centrifugo (log in %s): %w", logFile.Name(), err)
	}
	return c, nil
}

func (c *centrifugo) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
	}
	c.stack.Close()
}

func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", url, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
