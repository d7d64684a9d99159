package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Postgres, &stack))
}

// testArgon keeps tests fast; production parameters are benchmarked.
var testArgon = Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}

type testEnv struct {
	client authv1.AuthServiceClient
	pool   *pgxpool.Pool
	cfg    config
	broker *eventSink
}

// newEnv runs the auth function on a fresh database, served over real gRPC,
// with a CloudEvents sink standing in for the Broker ingress.
func newEnv(t *testing.T) *testEnv {
	return startEnv(t, testArgon)
}

// newBenchEnv is newEnv with production password hashing.
func newBenchEnv(b *testing.B) *testEnv {
	return startEnv(b, DefaultArgon2)
}

func startEnv(t testing.TB, argon Argon2Params) *testEnv {
	t.Helper()
	ctx := context.Background()
	sink := newEventSink(t)
	cfg := config{
		databaseURL: devstacktest.NewDatabase(t, stack),
		keys:        mustKeys(t, generateSigningKey("k1")),
		issuer:      "parley-test", audience: "parley-test",
		accessTTL: 15 * time.Minute, refreshTTL: time.Hour,
		argon: argon, hashers: DefaultHashSlots, brokerURL: sink.srv.URL,
	}
	pool, err := pgxpool.New(ctx, cfg.databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newServer(ctx, cfg, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go svc.GRPC.Serve(ln)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		svc.GRPC.Stop()
		svc.Stop(context.Background())
	})
	return &testEnv{client: authv1.NewAuthServiceClient(conn), pool: pool, cfg: cfg, broker: sink}
}

func mustKeys(t testing.TB, spec string) []signingKey {
	keys, err := parseSigningKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// register creates a user and returns its token response.
func (e *testEnv) register(t *testing.T, name string) *authv1.TokenResponse {
	t.Helper()
	resp, err := e.client.Register(context.Background(), &authv1.RegisterRequest{
		Username: name, Email: name + "@example.com", Password: "correct horse " + name})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return resp
}

func caller(r *authv1.TokenResponse) *authv1.Caller { return &authv1.Caller{UserId: r.User.Id} }

// reason returns the ErrorInfo reason of a gRPC error ("" for success).
func reason(err error) string {
	if err == nil {
		return ""
	}
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return status.Code(err).String()
}

func (e *testEnv) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventSink is a Broker ingress stand-in that records the events it receives.
type eventSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	evs  []event.Event
	down bool
}

func newEventSink(t testing.TB) *eventSink {
	s := &eventSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.evs = append(s.evs, *e)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *eventSink) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *eventSink) events(typ string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, e := range s.evs {
		if e.Type() == typ {
			var data map[string]any
			json.Unmarshal(e.Data(), &data)
			data["_partitionkey"] = e.Extensions()["partitionkey"]
			data["_id"] = e.ID()
			out = append(out, data)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
