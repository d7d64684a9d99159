package stores

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Postgres|devstack.Redis|devstack.Mongo, &stack))
}

func count(e *Errors, store, op string) float64 {
	return testutil.ToFloat64(e.count.WithLabelValues(store, op))
}

func TestRedisFailuresCountAndMissesDoNot(t *testing.T) {
	e := New(prometheus.NewRegistry())
	rdb, err := e.OpenRedis(env{"REDIS_URL": stack.RedisURL}.get)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Get(ctx, "stores:missing").Err(); err != redis.Nil {
		t.Fatalf("GET of a missing key: %v", err)
	}
	rdb.Set(ctx, "stores:s", "x", 0)
	if err := rdb.LPush(ctx, "stores:s", "y").Err(); err == nil { // WRONGTYPE
		t.Fatal("LPUSH on a string succeeded")
	}
	pipe := rdb.Pipeline()
	pipe.LPush(ctx, "stores:s", "z")
	if _, err := pipe.Exec(ctx); err == nil {
		t.Fatal("pipelined LPUSH on a string succeeded")
	}
	if n := count(e, "redis", "get"); n != 0 {
		t.Errorf("a miss counted as an error (%v)", n)
	}
	if n := count(e, "redis", "lpush"); n != 2 { // one alone, one in a pipeline
		t.Errorf("redis lpush errors = %v, want 2", n)
	}
	if n := total(e); n != 2 {
		t.Errorf("%v errors in all, want only lpush's 2 (connection set-up must not count)", n)
	}

	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer down.Close()
	down.AddHook(e.RedisHook())
	// go-redis may dial on a goroutine of its pool and answer the caller
	// before the hook has counted: wait for the count, pinging again.
	deadline := time.Now().Add(5 * time.Second)
	for count(e, "redis", "dial") < 1 && time.Now().Before(deadline) {
		down.Ping(ctx)
	}
	if n := count(e, "redis", "dial"); n < 1 {
		t.Errorf("an unreachable Redis counted %v dial errors", n)
	}
}

func TestPostgresFailuresCountAndConstraintViolationsDoNot(t *testing.T) {
	e := New(prometheus.NewRegistry())
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracer = e.PgxTracer()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE u (name text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	conn.Exec(ctx, "INSERT INTO u VALUES ('ada')")
	if _, err := conn.Exec(ctx, "INSERT INTO u VALUES ('ada')"); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	var s string
	if err := conn.QueryRow(ctx, "SELECT name FROM u WHERE name = 'bob'").Scan(&s); err != pgx.ErrNoRows {
		t.Fatalf("missing row: %v", err)
	}
	if n := count(e, "postgres", "query"); n != 0 {
		t.Fatalf("a duplicate or a missing row counted as an error (%v)", n)
	}
	if _, err := conn.Exec(ctx, "SELECT * FROM no_such_table"); err == nil {
		t.Fatal("query of a missing table succeeded")
	}
	if n := count(e, "postgres", "query"); n != 1 {
		t.Errorf("postgres errors = %v, want 1", n)
	}
}

func TestMongoFailuresCountAndDuplicateKeysDoNot(t *testing.T) {
	e := New(prometheus.NewRegistry())
	ctx := context.Background()
	mc, db, err := e.OpenMongo(env{"MONGO_URI": stack.MongoURI, "MONGO_DB": "stores"}.get)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(ctx)
	if db.Name() != "stores" {
		t.Fatalf("MONGO_DB ignored: database %q", db.Name())
	}
	coll := db.Collection("c")
	defer coll.Database().Drop(ctx)
	if _, err := coll.InsertOne(ctx, bson.M{"_id": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.M{"_id": 1}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate insert: %v", err)
	}
	if n := count(e, "mongodb", "insert"); n != 0 {
		t.Errorf("a duplicate key counted as an error (%v)", n)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "noSuchCommand", Value: 1}}).Err(); err == nil {
		t.Fatal("unknown command succeeded")
	}
	if n := count(e, "mongodb", "noSuchCommand"); n != 1 {
		t.Errorf("mongodb noSuchCommand errors = %v, want 1", n)
	}
}

// total sums every series: set-up traffic must add nothing to it.
func total(e *Errors) float64 {
	ch := make(chan prometheus.Metric, 64)
	e.count.Collect(ch)
	close(ch)
	sum := 0.0
	for m := range ch {
		var pb dto.Metric
		m.Write(&pb)
		sum += pb.GetCounter().GetValue()
	}
	return sum
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func TestBadURLsAreClearErrors(t *testing.T) {
	e := New(prometheus.NewRegistry())
	if _, err := e.OpenRedis(env{"REDIS_URL": "http://nope"}.get); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("bad REDIS_URL: %v", err)
	}
	if _, _, err := e.OpenMongo(env{"MONGO_URI": "nope://x"}.get); err == nil || !strings.Contains(err.Error(), "MONGO_URI") {
		t.Errorf("bad MONGO_URI: %v", err)
	}
	for name, vars := range map[string]env{
		"no REDIS_URL":  {"MONGO_URI": stack.MongoURI},
		"no MONGO_URI":  {"REDIS_URL": stack.RedisURL},
		"bad REDIS_URL": {"MONGO_URI": stack.MongoURI, "REDIS_URL": "http://nope"},
		"bad MONGO_URI": {"MONGO_URI": "nope://x", "REDIS_URL": stack.RedisURL},
	} {
		if _, err := e.OpenState(vars.get); err == nil {
			t.Errorf("%s: OpenState succeeded", name)
		}
	}
}

func TestOpenStateOpensBoth(t *testing.T) {
	st, err := New(prometheus.NewRegistry()).OpenState(env{"MONGO_URI": stack.MongoURI, "REDIS_URL": stack.RedisURL,
		"MONGO_DB": "stores"}.get)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Redis.Ping(ctx).Err(); err != nil {
		t.Errorf("redis: %v", err)
	}
	if err := st.Mongo.RunCommand(ctx, map[string]int{"ping": 1}).Err(); err != nil || st.Mongo.Name() != "stores" {
		t.Errorf("mongo %q: %v", st.Mongo.Name(), err)
	}
	if err := st.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Redis.Ping(ctx).Err(); err == nil {
		t.Error("redis still usable after Close")
	}
}
