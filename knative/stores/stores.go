// Package stores opens Parley's stores from the environment and counts
// their failed calls — PostgreSQL (pgx), Redis (go-redis) and MongoDB
// (mongo-driver) — in one series, parley_store_errors_total{store,op}, by
// hooking each client rather than every call site, so no new query can
// forget to count.
//
// Outcomes that are answers rather than failures are not counted: a Redis
// miss (redis.Nil), pgx.ErrNoRows, PostgreSQL integrity violations (class
// 23: a taken username is a 409, not an outage), and MongoDB duplicate keys
// (reported inside a successful reply, so the monitor never sees them).
package stores

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Errors is the counter the hooks feed.
type Errors struct {
	count *prometheus.CounterVec
}

// New registers parley_store_errors_total on reg.
func New(reg prometheus.Registerer) *Errors {
	e := &Errors{count: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_store_errors_total",
		Help: "Failed store calls, by store (postgres, redis, mongodb) and operation.",
	}, []string{"store", "op"})}
	reg.MustRegister(e.count)
	return e
}

func (e *Errors) inc(store, op string) { e.count.WithLabelValues(store, op).Inc() }

// OpenMongo connects to MONGO_URI with failed commands counted and returns
// the client (to disconnect) and the MONGO_DB database (default parley).
func (e *Errors) OpenMongo(getenv func(string) string) (*mongo.Client, *mongo.Database, error) {
	mc, err := mongo.Connect(options.Client().ApplyURI(getenv("MONGO_URI")).SetMonitor(e.MongoMonitor()))
	if err != nil {
		return nil, nil, fmt.Errorf("MONGO_URI: %w", err)
	}
	db := getenv("MONGO_DB")
	if db == "" {
		db = "parley"
	}
	return mc, mc.Database(db), nil
}

// OpenRedis returns a client for REDIS_URL (see RedisURL) with failed
// commands counted.
func (e *Errors) OpenRedis(getenv func(string) string) (redis.UniversalClient, error) {
	rdb, err := RedisURL(getenv("REDIS_URL"), 0)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb.AddHook(e.RedisHook())
	return rdb, nil
}

// RedisURL returns a client for one Redis, redis[s]://user:password@host:port/db,
// or for a Redis Cluster when the URL says cluster=true: the host is one
// seed node and addr= names more, redis://user:password@host:port?cluster=true&addr=host2:port,
// with go-redis's other cluster options (ParseClusterURL) allowed beside
// them. Every key Parley writes carries its room or user as the hash tag,
// so the keys a script or transaction touches share a slot, and channels
// are shard channels (SPUBLISH), which stay on the shard of their slot.
// A poolSize above zero replaces the URL's (per node on a cluster).
func RedisURL(raw string, poolSize int) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if !q.Has("cluster") {
		opts, err := redis.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		if poolSize > 0 {
			opts.PoolSize = poolSize
		}
		return redis.NewClient(opts), nil
	}
	cluster, err := strconv.ParseBool(q.Get("cluster"))
	if err != nil {
		return nil, fmt.Errorf("cluster=%q: %w", q.Get("cluster"), err)
	}
	q.Del("cluster")
	u.RawQuery = q.Encode()
	if !cluster {
		return RedisURL(u.String(), poolSize)
	}
	if strings.Trim(u.Path, "/") != "" && strings.Trim(u.Path, "/") != "0" {
		return nil, errors.New("a Redis Cluster has only database 0")
	}
	u.Path = ""
	opts, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, err
	}
	if poolSize > 0 {
		opts.PoolSize = poolSize
	}
	return redis.NewClusterClient(opts), nil
}

// ForEachMaster runs fn on the one Redis, or on every master of a cluster
// (concurrently), for what a node answers of itself alone: its clients,
// its subscribers, its keys.
func ForEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	default:
		return fmt.Errorf("redis: ForEachMaster of a %T", rdb)
	}
}

// State is where a function keeps its state: a MongoDB database and a Redis
// client, opened together.
type State struct {
	Mongo *mongo.Database
	Redis redis.UniversalClient
}

// OpenState opens MONGO_URI's database (MONGO_DB, default parley) and
// REDIS_URL's client, both required. Either both are open or neither.
func (e *Errors) OpenState(getenv func(string) string) (State, error) {
	if getenv("MONGO_URI") == "" || getenv("REDIS_URL") == "" {
		return State{}, errors.New("MONGO_URI and REDIS_URL are required")
	}
	rdb, err := e.OpenRedis(getenv)
	if err != nil {
		return State{}, err
	}
	_, db, err := e.OpenMongo(getenv)
	if err != nil {
		rdb.Close()
		return State{}, err
	}
	return State{Mongo: db, Redis: rdb}, nil
}

// Close disconnects from both stores.
func (s State) Close(ctx context.Context) error {
	return errors.Join(s.Mongo.Client().Disconnect(ctx), s.Redis.Close())
}

// MongoMonitor returns a command monitor for options.Client().SetMonitor.
func (e *Errors) MongoMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{Failed: func(_ context.Context, ev *event.CommandFailedEvent) {
		e.inc("mongodb", ev.CommandName)
	}}
}

// PgxTracer returns a tracer for pgx.ConnConfig.Tracer.
func (e *Errors) PgxTracer() pgx.QueryTracer { return pgxTracer{e} }

type pgxTracer struct{ e *Errors }

func (pgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (t pgxTracer) TraceQueryEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if data.Err == nil || errors.Is(data.Err, pgx.ErrNoRows) {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(data.Err, &pgErr) && len(pgErr.Code) == 5 && pgErr.Code[:2] == "23" {
		return
	}
	t.e.inc("postgres", "query")
}

// RedisHook returns a hook for redis.Client.AddHook.
func (e *Errors) RedisHook() redis.Hook { return redisHook{e} }

type redisHook struct{ e *Errors }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			h.e.inc("redis", "dial")
		}
		return conn, err
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd) // cmd.Err() is set only after the hooks return
		h.count(cmd.Name(), err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.count(cmd.Name(), cmd.Err())
		}
		return err
	}
}

func (h redisHook) count(name string, err error) {
	// go-redis sends CLIENT SETINFO on every new connection and ignores its
	// failure on servers older than 7.2; so do we.
	if err != nil && !errors.Is(err, redis.Nil) && name != "client" {
		h.e.inc("redis", name)
	}
}
