package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/presence"
	"github.com/parley-chat/parley/connector/internal/seqs"
	"github.com/parley-chat/parley/connector/internal/seqs/seqstest"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/stores"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// These tests run the real socket server, hub and presence over real
// Redis and real WebSockets; auth, persist and Kafka are stand-ins (the
// e2e package runs the real ones).

var stack *devstack.Stack

func TestMain(m *testing.M) {
	// The S3 store is for BenchmarkSendPathWithAttachment.
	os.Exit(devstacktest.Run(m, devstack.Redis|devstack.S3Store, &stack))
}

// tokenIsUser accepts any token but "bad": the token is the user id.
type tokenIsUser struct{}

func (tokenIsUser) Verify(_ context.Context, token string) (authn.Identity, error) {
	if token == "bad" {
		return authn.Identity{}, errors.New("bad token")
	}
	return authn.Identity{UserID: token, Username: token, Role: "user", Expires: time.Now().Add(time.Hour)}, nil
}

// everyoneIsMember makes every user a member of every room.
type everyoneIsMember struct{}

func (everyoneIsMember) Role(context.Context, string, string) (string, error)  { return "member", nil }
func (everyoneIsMember) Blocked(context.Context, string, string) (bool, error) { return false, nil }
func (everyoneIsMember) Kind(context.Context, string, string) (string, error)  { return "public", nil }
func (everyoneIsMember) Forget(string, string)                                 {}
func (everyoneIsMember) ForgetUser(string)                                     {}

// noHistory is a persist with nothing stored.
type noHistory struct{}

func (noHistory) History(context.Context, *persistv1.HistoryRequest, ...grpc.CallOption) (*persistv1.HistoryResponse, error) {
	return &persistv1.HistoryResponse{}, nil
}

func (noHistory) GetMessage(context.Context, *persistv1.GetMessageRequest, ...grpc.CallOption) (*persistv1.GetMessageResponse, error) {
	return nil, status.Error(codes.NotFound, "no such message")
}

// acceptingLog acknowledges every event, as Kafka does when healthy.
type acceptingLog struct{}

func (acceptingLog) Append(context.Context, event.Event) error { return nil }

type testServer struct {
	url string
	rdb redis.UniversalClient
	srv *Server
}

// recordingLog acknowledges every event and keeps the rooms they were for
// and the reactions among them.
type recordingLog struct {
	mu     sync.Mutex
	events []event.Event
}

func (l *recordingLog) Append(_ context.Context, e event.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return nil
}

func (l *recordingLog) rooms() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Extensions()["partitionkey"].(string))
	}
	return out
}

// reactions is the number of reaction events appended.
func (l *recordingLog) reactions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type() == eventsv1.TypeMessageReacted {
			n++
		}
	}
	return n
}

// failingHistory is a persist that cannot be reached.
type failingHistory struct{ noHistory }

func (failingHistory) History(context.Context, *persistv1.HistoryRequest, ...grpc.CallOption) (*persistv1.HistoryResponse, error) {
	return nil, status.Error(codes.Unavailable, "persist is down")
}

// newTestServer serves sockets on a loopback port until the test ends;
// with deps, it changes the stand-ins first.
func newTestServer(t *testing.T, cfg Config, deps ...func(*Deps)) *testServer {
	t.Helper()
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Logger = log
	authority := seqs.New(rdb, &seqstest.Blocks{}, log)
	h := hub.New(rdb, hub.Config{Head: authority.Head, Logger: log})
	d := Deps{Hub: h, Redis: rdb, Verifier: tokenIsUser{}, Members: everyoneIsMember{}, History: noHistory{},
		Log: acceptingLog{}, Presence: presence.New(rdb, time.Minute, log), Metrics: NewMetrics(prometheus.NewRegistry()), Seqs: authority}
	for _, change := range deps {
		change(&d)
	}
	srv := New(cfg, d)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.Run(ctx) }()
	go func() { defer wg.Done(); srv.RunUserFeed(ctx) }()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		stop, done := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(stop)
		done()
		hs.Close()
		cancel()
		wg.Wait()
		h.Close()
		rdb.Close()
	})
	return &testServer{url: hs.URL, rdb: rdb, srv: srv}
}

type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }
func (f frame) num(k string) int64  { n, _ := f[k].(float64); return int64(n) }

// testClient is a protocol v1 client on a real WebSocket.
type testClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan frame // closed when the socket is
	closed chan int   // then receives the close code (1006 without a close frame)
}

// dial connects and authenticates as user.
func (ts *testServer) dial(t *testing.T, user string) *testClient {
	t.Helper()
	return ts.dialWith(t, user, func(*websocket.Conn) {})
}

// dialWith is dial with the socket set up by prepare before it is read.
func (ts *testServer) dialWith(t *testing.T, user string, prepare func(*websocket.Conn)) *testClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(ts.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	prepare(conn)
	c := &testClient{t: t, conn: conn, frames: make(chan frame, 4096), closed: make(chan int, 1)}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	c.write(frame{"type": "auth", "id": "auth", "token": user})
	c.expect("ready", nil)
	return c
}

func (c *testClient) read() {
	defer close(c.frames)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			code := websocket.CloseAbnormalClosure
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			c.closed <- code
			return
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var f frame
			if json.Unmarshal(line, &f) != nil {
				f = frame{"type": "_unparsable", "raw": string(line)}
			}
			c.frames <- f
		}
	}
}

func (c *testClient) write(f frame) {
	c.t.Helper()
	if err := c.conn.WriteJSON(f); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expect waits for the next frame of type typ matching ok, skipping others.
func (c *testClient) expect(typ string, ok func(frame) bool) frame {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, open := <-c.frames:
			if !open {
				c.t.Fatalf("socket closed while waiting for %s", typ)
			}
			if f.str("type") == typ && (ok == nil || ok(f)) {
				return f
			}
		case <-timeout:
			c.t.Fatalf("no %s frame within 10s", typ)
		}
	}
}

// subscribe joins room from its start and waits until it is subscribed.
func (c *testClient) subscribe(room string) {
	c.t.Helper()
	c.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": room, "last_seq": 0}}})
	c.expect("subscribed", nil)
}

// sendText sends a message and returns its ack.
func (c *testClient) sendText(room, text string) frame {
	c.t.Helper()
	id := uuid.NewString()
	c.write(frame{"type": "send", "id": id, "room_id": room, "client_msg_id": id, "text": text})
	return c.expect("ack", func(f frame) bool { return f.str("id") == id })
}
