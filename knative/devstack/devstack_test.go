package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/kgoauth"
	"github.com/parley-chat/parley/knative/stores"
)

var ferretBin, weedBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devstack-test")
	if err != nil {
		panic(err)
	}
	ferretBin = filepath.Join(dir, "ferretdb")
	build := exec.Command("go", "build", "-o", ferretBin, ".")
	build.Dir = "ferretdb"
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ferretdb:", err)
		os.Exit(1)
	}
	if weedBin, err = BuildSeaweedFS(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stateDir is a temp folder the postgres user can enter when tests run as root.
func stateDir(t *testing.T) string {
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return filepath.Join(dir, "state")
}

func testConfig(t *testing.T, state string, env map[string]string) Config {
	return Config{
		StateDir: state, FerretDBBinary: ferretBin, SeaweedFSBinary: weedBin,
		PostgresPort: -1, RedisPort: -1, MongoPort: -1, KafkaPort: -1, S3Port: -1,
		Getenv: func(k string) string { return env[k] },
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

func up(t *testing.T, cfg Config) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStartsFromNothingAndKeepsDataAcrossRestart(t *testing.T) {
	ctx := context.Background()
	state := stateDir(t)
	s := up(t, testConfig(t, state, nil))

	// Write one thing to each server.
	pg, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('pg-value')"); err != nil {
		t.Fatal(err)
	}
	pg.Close(ctx)
	rdb := redisClient(t, s.RedisURL)
	if err := rdb.Set(ctx, "kept", "redis-value", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	mc := mongoClient(t, s.MongoURI)
	if _, err := mc.Database("parley").Collection("kept").InsertOne(ctx, bson.D{{Key: "v", Value: "mongo-value"}}); err != nil {
		t.Fatal(err)
	}
	mc.Disconnect(ctx)
	// Kafka wants a login: without one nothing is written.
	anon := kafkaClient(t, s.KafkaBrokers, kafka.Credentials{}, kgo.RecordDeliveryTimeout(time.Second))
	if err := anon.ProduceSync(ctx, &kgo.Record{Topic: "parley-events", Value: []byte("anonymous")}).FirstErr(); err == nil {
		t.Error("a client without a login wrote to the Broker's topic")
	}
	anon.Close()
	kc := kafkaClient(t, s.KafkaBrokers, s.KafkaConnector)
	if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "parley-events", Value: []byte("kafka-value")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kc.Close()
	oldS3 := s.S3
	s3c := s3Client(t, s.S3)
	if _, err := s3c.PutObject(ctx, s.S3.Bucket, "kept", strings.NewReader("s3-value"), 8, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Secrets are private to the owner.
	for _, name := range []string{"postgres-password", "redis-password", "kafka-parley-connector-password", "kafka-parley-knative-password"} {
		fi, err := os.Stat(filepath.Join(state, "secrets", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}

	s = up(t, testConfig(t, state, nil))
	defer s.Close()
	pg, err = pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	var v string
	if err := pg.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "pg-value" {
		t.Errorf("postgres after restart: %q, %v", v, err)
	}
	rdb = redisClient(t, s.RedisURL)
	defer rdb.Close()
	if v, err := rdb.Get(ctx, "kept").Result(); err != nil || v != "redis-value" {
		t.Errorf("redis after restart: %q, %v", v, err)
	}
	mc = mongoClient(t, s.MongoURI)
	defer mc.Disconnect(ctx)
	var doc struct{ V string }
	if err := mc.Database("parley").Collection("kept").FindOne(ctx, bson.D{}).Decode(&doc); err != nil || doc.V != "mongo-value" {
		t.Errorf("mongo after restart: %q, %v", doc.V, err)
	}
	// The files stay; the S3 login is new on every start.
	if v := getObject(t, s3Client(t, s.S3), s.S3.Bucket, "kept"); v != "s3-value" {
		t.Errorf("s3 after restart: %q", v)
	}
	if oldS3.AccessKey == s.S3.AccessKey || oldS3.SecretKey == s.S3.SecretKey {
		t.Error("the S3 login did not change across restarts")
	}
	oldS3.Endpoint = s.S3.Endpoint
	if _, err := s3Client(t, oldS3).StatObject(ctx, s.S3.Bucket, "kept", minio.StatObjectOptions{}); err == nil {
		t.Error("the previous run's S3 login still works")
	}
	kc = kafkaClient(t, s.KafkaBrokers, s.KafkaDataPlane, kgo.ConsumeTopics("parley-events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer kc.Close()
	pollCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fetches := kc.PollRecords(pollCtx, 1)
	if recs := fetches.Records(); len(recs) != 1 || string(recs[0].Value) != "kafka-value" {
		t.Errorf("kafka after restart: %v (%v)", recs, fetches.Err())
	}
}

func TestEnvOverridesStartNothing(t *testing.T) {
	first := up(t, testConfig(t, stateDir(t), nil))
	defer first.Close()
	second := up(t, testConfig(t, stateDir(t), first.Env()))
	defer second.Close()
	if len(second.servers) != 0 || second.kafka != nil {
		t.Fatalf("started %d servers and kafka=%v although every URL was given", len(second.servers), second.kafka != nil)
	}
	if fmt.Sprint(second.Env()) != fmt.Sprint(first.Env()) {
		t.Errorf("env = %v, want %v", second.Env(), first.Env())
	}
	// The Kafka login of KAFKA_SASL_* is everyone's who talks to that Kafka.
	if second.KafkaConnector != first.KafkaConnector || second.KafkaDataPlane != first.KafkaConnector {
		t.Errorf("logins %v and %v, want %v from the environment", second.KafkaConnector, second.KafkaDataPlane, first.KafkaConnector)
	}
}

func TestTakenPortIsAClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t, stateDir(t), map[string]string{"DATABASE_URL": "postgres://unused"})
	cfg.RedisPort = ln.Addr().(*net.TCPAddr).Port
	_, err = Up(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "is taken") {
		t.Fatalf("Up with a taken port: %v", err)
	}
}

func TestPostgresRetriesWhenItsRandomPortWasTakenMeanwhile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	real := randomPort
	picks := 0
	randomPort = func() (int, error) {
		picks++
		if picks == 1 {
			return taken, nil // free when picked, bound by someone else since
		}
		return real()
	}
	defer func() { randomPort = real }()
	cfg := testConfig(t, stateDir(t), nil)
	cfg.Components = Postgres
	s := up(t, cfg)
	defer s.Close()
	if picks < 2 || strings.Contains(s.DatabaseURL, fmt.Sprintf(":%d/", taken)) {
		t.Fatalf("PostgreSQL at %s after %d picks: it should have moved off port %d", s.DatabaseURL, picks, taken)
	}
	conn, err := pgx.Connect(context.Background(), s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
}

func TestMissingFerretDBBinaryIsAClearError(t *testing.T) {
	first := up(t, testConfig(t, stateDir(t), nil))
	defer first.Close()
	env := first.Env()
	delete(env, "MONGO_URI")
	cfg := testConfig(t, stateDir(t), env)
	cfg.FerretDBBinary = filepath.Join(t.TempDir(), "missing")
	_, err := Up(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "MONGO_URI") {
		t.Fatalf("Up without FerretDB: %v", err)
	}
	if !strings.Contains(err.Error(), "no such file") {
		t.Errorf("error does not say the file is missing: %v", err)
	}
}

func kafkaClient(t *testing.T, brokers []string, login kafka.Credentials, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	auth, err := kgoauth.Opts(login)
	if err != nil {
		t.Fatal(err)
	}
	// Bounded, so a refused login fails the test instead of hanging it.
	kc, err := kgo.NewClient(append(append(auth, kgo.SeedBrokers(brokers...), kgo.RecordDeliveryTimeout(10*time.Second)), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func redisClient(t *testing.T, u string) *redis.Client {
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return redis.NewClient(opts)
}

func mongoClient(t *testing.T, uri string) *mongo.Client {
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// A Redis Cluster of three masters forms, spreads keys by slot over all of
// them, and comes back with its data on a restart (make run again), its
// nodes remembering the cluster in nodes.conf.
func TestRedisClusterFormsAndKeepsDataAcrossRestart(t *testing.T) {
	cfg := testConfig(t, stateDir(t), nil)
	cfg.Components, cfg.RedisClusterNodes = Redis, 3
	// Fixed ports, as make run has: three in a row, free now.
	for cfg.RedisPort = 0; cfg.RedisPort == 0; {
		base, err := randomPort()
		if err != nil {
			t.Fatal(err)
		}
		cfg.RedisPort = base
		if base+2 > 65535-10000 { // the cluster buses, at port + 10000, must fit
			cfg.RedisPort = 0
			continue
		}
		for i := range 3 {
			if _, err := pickPort("Redis", base+i); err != nil {
				cfg.RedisPort = 0
			}
		}
	}
	ctx := context.Background()
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "hist:{room-" + fmt.Sprint(i) + "}"
	}
	for round := range 2 {
		s := up(t, cfg)
		if !strings.Contains(s.RedisURL, "cluster=true") {
			t.Fatalf("RedisURL %s does not name a cluster", s.RedisURL)
		}
		rdb, err := stores.RedisURL(s.RedisURL, 0)
		if err != nil {
			t.Fatal(err)
		}
		cluster := rdb.(*redis.ClusterClient)
		for _, k := range keys {
			if round == 0 {
				err = cluster.Set(ctx, k, k, 0).Err()
			} else if v, e := cluster.Get(ctx, k).Result(); e != nil || v != k {
				err = fmt.Errorf("after the restart %s = %q (%v)", k, v, e)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		var masters atomic.Int32
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			if n, err := c.DBSize(ctx).Result(); err != nil || n == 0 {
				return fmt.Errorf("master %s holds %d keys (%v)", c.Options().Addr, n, err)
			}
			masters.Add(1)
			return nil
		})
		if err != nil || masters.Load() != 3 {
			t.Fatalf("round %d: %d masters with keys: %v", round, masters.Load(), err)
		}
		rdb.Close()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Random ports above 55535 leave no room for a node's default cluster bus
// (port + 10000): each node gets a free bus port of its own, so the
// cluster still forms.
func TestRedisClusterFormsOnHighRandomPorts(t *testing.T) {
	free := randomPort
	t.Cleanup(func() { randomPort = free })
	next := 60000
	randomPort = func() (int, error) {
		for ; next < 65000; next++ {
			if p, err := pickPort("test", next); err == nil {
				next++
				return p, nil
			}
		}
		return free()
	}
	cfg := testConfig(t, stateDir(t), nil)
	cfg.Components, cfg.RedisClusterNodes = Redis, 3
	s := up(t, cfg)
	defer s.Close()
	rdb, err := stores.RedisURL(s.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Set(context.Background(), "hist:{high}", "ok", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
