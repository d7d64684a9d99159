// Command search is the full-text search function. From its own Triggers
// it takes every stored, edited, deleted, flagged (hidden) and restored
// message and keeps a PostgreSQL full-text index of what members may see;
// over gRPC it answers Search for the connector: the rooms the caller is a
// member of, newest first, a page at a time, with the matches marked. It
// replies nothing to the Broker: it hangs off the stream, so the send path
// never waits on it.
//
// `search rebuild` replays the Broker's topic from its earliest offset into
// a fresh index and swaps it in (see rebuild.go).
//
// Environment: SEARCH_DATABASE_URL (required): its own database, as its
// own role. For rebuild also KAFKA_BROKERS (required), KAFKA_TOPIC
// (parley-events) and the login KAFKA_SASL_* (the parley-search-rebuild
// Kafka user may only read the topic).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	searchv1 "github.com/parley-chat/parley/proto/parley/search/v1"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "rebuild" {
		os.Exit(rebuildMain(os.Args[2:]))
	}
	ksvc.Main("search", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		return build(ctx, os.Getenv, log)
	})
}

// openPool connects to SEARCH_DATABASE_URL, counting failed queries on reg.
func openPool(ctx context.Context, getenv func(string) string, reg prometheus.Registerer) (*pgxpool.Pool, error) {
	url := getenv("SEARCH_DATABASE_URL")
	if url == "" {
		return nil, errors.New("SEARCH_DATABASE_URL is required")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("SEARCH_DATABASE_URL: %w", err)
	}
	cfg.ConnConfig.Tracer = stores.New(reg).PgxTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("SEARCH_DATABASE_URL: %w", err)
	}
	return pool, nil
}

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (ksvc.Service, error) {
	reg := prometheus.NewRegistry()
	pool, err := openPool(ctx, getenv, reg)
	if err != nil {
		return ksvc.Service{}, err
	}
	svc := newService(pool, log)
	svc.Registry = reg
	return svc, nil
}

// newService wires the function on pool; tests call it with their own.
func newService(pool *pgxpool.Pool, log *slog.Logger) ksvc.Service {
	st := &store{pool: pool}
	f := &function{store: st, puts: newPutBatcher(st)}
	g := ksvc.NewGRPCServer()
	searchv1.RegisterSearchServiceServer(g, &searchServer{store: st, log: log})
	start, stop := ksvc.Loops(st.migrate, func(context.Context) error { pool.Close(); return nil }, f.puts.Run)
	return ksvc.Service{
		Events: f.Handle,
		GRPC:   g,
		Start:  start,
		Ready:  func(ctx context.Context) error { return pool.Ping(ctx) },
		Stop:   stop,
	}
}
