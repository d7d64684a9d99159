// Package devstacktest runs real infrastructure for a test binary: call Run
// from TestMain, then give each test its own database with NewDatabase.
package devstacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/knative/devstack"
)

// ClusterEnv, set to a number of masters (3 or more), makes Run start
// Redis as a Redis Cluster: make test runs the packages that use Redis
// once more that way (see the Makefile).
const ClusterEnv = "PARLEY_TEST_REDIS_CLUSTER"

// Run starts the components, stores the stack in *stack, runs each setup
// (which may start more on top of the stack), runs the tests and stops
// everything in reverse. Use it as os.Exit(devstacktest.Run(m, c, &stack)).
func Run(m *testing.M, c devstack.Component, stack **devstack.Stack, setups ...func() (stop func(), err error)) int {
	nodes := 0
	if v := os.Getenv(ClusterEnv); v != "" {
		var err error
		if nodes, err = strconv.Atoi(v); err != nil {
			fmt.Fprintf(os.Stderr, "devstacktest: %s=%q: %v\n", ClusterEnv, v, err)
			return 1
		}
	}
	return RunCluster(m, c, nodes, stack, setups...)
}

// RunCluster is Run with Redis as a Redis Cluster of nodes masters (one
// Redis when nodes is 0), for tests of what only a cluster has.
func RunCluster(m *testing.M, c devstack.Component, nodes int, stack **devstack.Stack, setups ...func() (stop func(), err error)) int {
	dir, err := os.MkdirTemp("", "parley-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // the postgres user must reach its data when tests run as root
	cfg := devstack.Config{
		StateDir: filepath.Join(dir, "state"), Components: c,
		PostgresPort: -1, RedisPort: -1, MongoPort: -1, KafkaPort: -1, S3Port: -1, KafkaInMemory: true,
		RedisClusterNodes: nodes,
		Getenv:            func(string) string { return "" },
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if c&devstack.Mongo != 0 {
		cfg.FerretDBBinary = filepath.Join(dir, "ferretdb")
		if err := BuildFerretDB(cfg.FerretDBBinary); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if c&devstack.S3Store != 0 {
		if cfg.SeaweedFSBinary, err = devstack.BuildSeaweedFS(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s, err := devstack.Up(ctx, cfg)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstacktest:", err)
		return 1
	}
	defer s.Close()
	*stack = s
	for _, setup := range setups {
		stop, err := setup()
		if err != nil {
			fmt.Fprintln(os.Stderr, "devstacktest: setup:", err)
			return 1
		}
		defer stop()
	}
	return m.Run()
}

// BuildFerretDB builds the FerretDB wrapper module to path.
func BuildFerretDB(path string) error {
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", path, ".")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "ferretdb")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build ferretdb: %w\n%s", err, out)
	}
	return nil
}

// NewDatabase creates an empty database for one test on the stack's server
// and returns its URL; it is dropped when the test ends.
func NewDatabase(t testing.TB, s *devstack.Stack) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, s.DatabaseURL)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
