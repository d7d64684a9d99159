// Command auth is the identity function: users, credentials, tokens, rooms
// and roles in PostgreSQL, reached by the connector over gRPC. It scales to
// zero; its events (parley.user.created, parley.room.member.*) go through a
// transactional outbox to the Broker.
//
// Environment:
//
//	DATABASE_URL        PostgreSQL (required)
//	JWT_SIGNING_KEYS    kid:base64url-seed[,…] Ed25519 keys; the first signs (required)
//	JWT_ISSUER          token issuer (parley)
//	JWT_AUDIENCE        token audience (parley)
//	ACCESS_TOKEN_TTL    (15m)     REFRESH_TOKEN_TTL (720h)
//	ARGON2_MEMORY_KIB   (19456)   ARGON2_TIME (2)   ARGON2_THREADS (1)
//	ARGON2_CONCURRENCY  password hashes at once (4): each holds ARGON2_MEMORY_KIB
//	BROKER_URL          Broker ingress for events; unset keeps them in the outbox
//	BROKER_TOKEN_FILE   OIDC token for the Broker (a projected service account token)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

func main() {
	ksvc.Main("auth", build)
}

type config struct {
	databaseURL string
	keys        []signingKey
	issuer      string
	audience    string
	accessTTL   time.Duration
	refreshTTL  time.Duration
	argon       Argon2Params
	hashers     int
	brokerURL   string
	brokerToken string // file of the OIDC token for the Broker (ksvc.BrokerTokenFileEnv)
}

func configFromEnv(getenv func(string) string) (config, error) {
	c := config{
		databaseURL: getenv("DATABASE_URL"),
		issuer:      or(getenv("JWT_ISSUER"), "parley"),
		audience:    or(getenv("JWT_AUDIENCE"), "parley"),
		brokerURL:   getenv("BROKER_URL"),
		brokerToken: getenv(ksvc.BrokerTokenFileEnv),
		argon:       DefaultArgon2,
		hashers:     DefaultHashSlots,
	}
	if c.databaseURL == "" {
		return c, errors.New("DATABASE_URL is required")
	}
	var err error
	if c.keys, err = parseSigningKeys(getenv("JWT_SIGNING_KEYS")); err != nil {
		return c, err
	}
	if c.accessTTL, err = time.ParseDuration(or(getenv("ACCESS_TOKEN_TTL"), "15m")); err != nil {
		return c, fmt.Errorf("ACCESS_TOKEN_TTL: %w", err)
	}
	if c.refreshTTL, err = time.ParseDuration(or(getenv("REFRESH_TOKEN_TTL"), "720h")); err != nil {
		return c, fmt.Errorf("REFRESH_TOKEN_TTL: %w", err)
	}
	for _, v := range []struct {
		key string
		dst any
	}{{"ARGON2_MEMORY_KIB", &c.argon.MemoryKiB}, {"ARGON2_TIME", &c.argon.Time}, {"ARGON2_THREADS", &c.argon.Threads},
		{"ARGON2_CONCURRENCY", &c.hashers}} {
		s := getenv(v.key)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 {
			return c, fmt.Errorf("%s=%q: want a positive integer", v.key, s)
		}
		switch d := v.dst.(type) {
		case *uint32:
			*d = uint32(n)
		case *uint8:
			*d = uint8(min(n, 255))
		case *int:
			*d = int(min(n, 1024))
		}
	}
	return c, nil
}

func build(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return ksvc.Service{}, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.databaseURL)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("DATABASE_URL: %w", err)
	}
	reg := prometheus.NewRegistry()
	pcfg.ConnConfig.Tracer = stores.New(reg).PgxTracer()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return ksvc.Service{}, fmt.Errorf("DATABASE_URL: %w", err)
	}
	svc, err := newServer(ctx, cfg, pool, log)
	svc.Registry = reg
	return svc, err
}

// newServer wires the function; tests call it with their own pool.
func newServer(ctx context.Context, cfg config, pool *pgxpool.Pool, log *slog.Logger) (ksvc.Service, error) {
	st := &store{pool: pool}
	pub, err := newPublisher(st, cfg.brokerURL, cfg.brokerToken, log)
	if err != nil {
		return ksvc.Service{}, err
	}
	tokens := &tokenIssuer{keys: cfg.keys, issuer: cfg.issuer, audience: cfg.audience,
		accessTTL: cfg.accessTTL, refreshTTL: cfg.refreshTTL, now: time.Now}
	svc, err := newService(st, tokens, cfg.argon, cfg.hashers, pub, log)
	if err != nil {
		return ksvc.Service{}, err
	}
	g := ksvc.NewGRPCServer()
	authv1.RegisterAuthServiceServer(g, svc)

	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	var pubDone sync.WaitGroup
	return ksvc.Service{
		GRPC: g,
		Start: func(ctx context.Context) error {
			if err := migrate(ctx, pool); err != nil {
				return err
			}
			pubDone.Add(1)
			go func() { defer pubDone.Done(); pub.run(pubCtx) }()
			return nil
		},
		Ready: func(ctx context.Context) error { return pool.Ping(ctx) },
		Stop: func(ctx context.Context) error {
			// One last flush so events written just before shutdown go out now.
			if pub.client != nil {
				if err := pub.flush(ctx); err != nil {
					log.Warn("final event flush failed; events stay in the outbox", "error", err)
				}
			}
			stopPub()
			pubDone.Wait()
			pool.Close()
			return nil
		},
	}, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
