package ksvc

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the runtime configuration every service shares. Zero fields get
// the defaults documented on each field.
type Config struct {
	// Name identifies the service in logs and metrics. Required.
	Name string
	// Port to listen on; zero means $PORT, and 8080 when that is unset, as in Knative.
	Port int
	// Host to bind; empty means all interfaces.
	Host string
	// MetricsAddr, when set, serves /metrics on its own listener instead of the
	// main port, so a public service does not expose its metrics to clients.
	MetricsAddr string
	// DrainDelay is how long readiness reports failure before the listener
	// drains, giving load balancers time to notice. Zero means no delay.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the whole drain and stop. Zero means 20s, under
	// Knative's default 30s termination grace period.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout protects against slow-header clients. Zero means 10s.
	ReadHeaderTimeout time.Duration
	// MaxEventBytes caps a CloudEvent request body. Zero means 1 MiB.
	MaxEventBytes int64
	// ReadBodyTimeout bounds reading a request's body, a CloudEvent's or
	// one of the Service's HTTP API (not gRPC streams; a WebSocket, once
	// upgraded, has none): a body that trickles in would hold a goroutine
	// and a connection. Zero means 10s.
	ReadBodyTimeout time.Duration
	// Logger receives structured logs; nil means JSON on stderr at LOG_LEVEL.
	Logger *slog.Logger
}

// FromEnv fills a Config for service name from the standard environment:
// PORT, HOST, METRICS_ADDR, DRAIN_DELAY, SHUTDOWN_TIMEOUT and LOG_LEVEL.
func FromEnv(name string) (Config, error) {
	cfg := Config{Name: name, Host: os.Getenv("HOST"), MetricsAddr: os.Getenv("METRICS_ADDR")}
	var err error
	if cfg.Port, err = envInt("PORT", 0); err != nil {
		return cfg, err
	}
	if cfg.DrainDelay, err = envDuration("DRAIN_DELAY", 0); err != nil {
		return cfg, err
	}
	if cfg.ShutdownTimeout, err = envDuration("SHUTDOWN_TIMEOUT", 0); err != nil {
		return cfg, err
	}
	level, err := parseLevel(os.Getenv("LOG_LEVEL"))
	if err != nil {
		return cfg, err
	}
	cfg.Logger = NewLogger(name, level)
	return cfg, nil
}

// NewLogger returns the JSON logger every Parley process uses, tagged with its service name.
func NewLogger(name string, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("service", name)
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		return fmt.Errorf("ksvc: Config.Name is required")
	}
	if c.Port == 0 {
		c.Port = 8080
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("ksvc: port %d out of range", c.Port)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadBodyTimeout == 0 {
		c.ReadBodyTimeout = 10 * time.Second
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = NewLogger(c.Name, slog.LevelInfo)
	}
	return nil
}

func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("ksvc: %s=%q is not an integer", key, v)
	}
	return n, nil
}

func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("ksvc: %s=%q is not a duration (e.g. 5s)", key, v)
	}
	return d, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("ksvc: LOG_LEVEL=%q: want debug, info, warn or error", s)
	}
	return l, nil
}
