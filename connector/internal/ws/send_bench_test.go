package ws

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/files"
	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/presence"
	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/connector/internal/seqs"
	"github.com/parley-chat/parley/connector/internal/seqs/seqstest"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// BenchmarkSendPath is one message through a real session's send handling,
// on the real test Redis: frame decode, membership, claim (de-duplication
// and seq), Kafka append (a stand-in that acknowledges at once), history
// window, publish, and the ack written to a real socket. Messages go one at
// a time, so nothing is batched; allocs/op is the allocations per message
// (connector/BENCHMARKS.md).
func BenchmarkSendPath(b *testing.B) { benchmarkSendPath(b, nil, "") }

// BenchmarkSendPathWithAttachment is BenchmarkSendPath with one image
// attached to every message: the difference is an attachment's cost per
// message on the send path, mostly the connector's HEAD of the file in the
// real S3 store (SeaweedFS), plus the larger message and the
// parley.file.uploaded event for the thumbnail.
func BenchmarkSendPathWithAttachment(b *testing.B) {
	store, err := files.New(files.Config{Endpoint: stack.S3.Endpoint, Bucket: stack.S3.Bucket, Region: stack.S3.Region,
		AccessKey: stack.S3.AccessKey, SecretKey: stack.S3.SecretKey}, redistest.Client(b, stack.RedisURL, "bench-files"))
	if err != nil {
		b.Fatal(err)
	}
	room := uuid.NewString()
	fileID := uuid.Must(uuid.NewV7()).String()
	s3c, err := stack.S3.Client()
	if err != nil {
		b.Fatal(err)
	}
	img := strings.Repeat("x", 48<<10)
	if _, err := s3c.PutObject(context.Background(), stack.S3.Bucket, eventsv1.FileKey(room, fileID), strings.NewReader(img), int64(len(img)),
		minio.PutObjectOptions{ContentType: "image/png", UserMetadata: map[string]string{"Owner": "bench-user", "Name": "photo.png"}}); err != nil {
		b.Fatal(err)
	}
	benchmarkSendPath(b, store, room, fileID)
}

func benchmarkSendPath(b *testing.B, fs Files, room string, attach ...string) {
	sess, ctx, rdb := newBenchSession(b, fs)
	if room == "" {
		room = uuid.NewString()
	}
	extra := ""
	if len(attach) > 0 {
		extra = `,"attachments":["` + strings.Join(attach, `","`) + `"]`
	}
	frames := make([][]byte, b.N)
	for i := range frames {
		id := "m" + strconv.Itoa(i)
		frames[i] = []byte(`{"type":"send","id":"` + id + `","room_id":"` + room + `","client_msg_id":"` + id + `","text":"hello, room"` + extra + `}`)
	}
	b.ReportAllocs()
	redisBefore := redisCPU(b, ctx, rdb)
	b.ResetTimer()
	for _, data := range frames {
		sess.handleInbound(ctx, inbound{data: data})
		sess.sends.Wait() // claimed, appended, published and acked
	}
	b.StopTimer()
	b.ReportMetric(float64((redisCPU(b, ctx, rdb)-redisBefore).Microseconds())/float64(b.N), "redis_cpu_us/op")
	// What each message leaves in Redis for a day: its send record.
	last := "m" + strconv.Itoa(b.N-1)
	kept, err := rdb.MemoryUsage(ctx, livev1.DedupKey(room, "bench-user", last)).Result()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(kept), "redis_record_B/op")
	if n, err := rdb.ZCard(ctx, livev1.HistoryKey(room)).Result(); err != nil || n != int64(min(b.N, livev1.HistoryWindow)) {
		b.Fatalf("history window holds %d messages (%v), want %d", n, err, min(b.N, livev1.HistoryWindow))
	}
	if len(attach) > 0 {
		last, err := rdb.ZRange(ctx, livev1.HistoryKey(room), -1, -1).Result()
		if err != nil || len(last) != 1 || !strings.Contains(last[0], `"attachments":[{"id":"`+attach[0]) {
			b.Fatalf("the last message carries no attachment: %v %v", last, err)
		}
	}
}

// redisCPU is the CPU the Redis server has used (user and system), from
// INFO cpu: the benchmark's Redis is its own, so the difference over a
// run is the send path's work in Redis.
func redisCPU(b *testing.B, ctx context.Context, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu %s: %v", k, err)
			}
			total += time.Duration(s * float64(time.Second))
		}
	}
	return total
}

// BenchmarkReactPath is one reaction through a real session, as
// BenchmarkSendPath is one message: frame decode, membership, the message
// looked up in the window, the Kafka append (a stand-in), the window's
// entry rewritten (a compare-and-swap script), the room told and the ack
// written. The reactions alternate add and remove on one message, so the
// entry stays small. Its cost per reaction is issue 19's number for
// reactions on the send path (connector/BENCHMARKS.md).
func BenchmarkReactPath(b *testing.B) {
	sess, ctx, rdb := newBenchSession(b, nil)
	room := uuid.NewString()
	sess.handleInbound(ctx, inbound{data: []byte(`{"type":"send","id":"s","room_id":"` + room + `","client_msg_id":"s","text":"react to me"}`)})
	sess.sends.Wait()
	held, err := rdb.ZRange(ctx, livev1.HistoryKey(room), 0, 0).Result()
	if err != nil || len(held) != 1 {
		b.Fatalf("the message is not in the window: %v %v", held, err)
	}
	var m eventsv1.Message
	if err := json.Unmarshal([]byte(held[0]), &m); err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, b.N)
	for i := range frames {
		op := eventsv1.ReactionAdd
		if i%2 == 1 {
			op = eventsv1.ReactionRemove
		}
		frames[i] = []byte(`{"type":"react","id":"r` + strconv.Itoa(i) + `","room_id":"` + room + `","message_id":"` + m.ID +
			`","seq":` + strconv.FormatInt(m.Seq, 10) + `,"emoji":"👍","op":"` + op + `"}`)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, data := range frames {
		sess.handleInbound(ctx, inbound{data: data})
		sess.sends.Wait()
	}
	b.StopTimer()
	held, err = rdb.ZRange(ctx, livev1.HistoryKey(room), 0, 0).Result()
	if err != nil || len(held) != 1 || strings.Contains(held[0], "👍") != (b.N%2 == 1) {
		b.Fatalf("after %d reactions the window holds %v (%v)", b.N, held, err)
	}
}

// newBenchSession is an authenticated session of bench-user on a real
// socket whose client side only drains what the session writes.
func newBenchSession(b *testing.B, fs Files) (*session, context.Context, redis.UniversalClient) {
	c := newConnector(b, Config{SendRate: 1e9, SendBurst: 1e9})
	c.srv.files = fs
	rdb, h, srv := c.rdb, c.hub, c.srv
	ctx, cancel := context.WithCancel(context.Background())
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); srv.RunUserFeed(ctx) }()

	// A real socket: the server side is the session's, the client side
	// only drains what the session writes (acks), allocation-free.
	conns := make(chan *websocket.Conn, 1)
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err == nil {
			conns <- c
		}
	}))
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { defer close(drained); io.Copy(io.Discard, client.UnderlyingConn()) }()
	sess := newSession(srv, <-conns)
	if !sess.authenticate(ctx, "", "bench-user") {
		b.Fatal("authenticate failed")
	}
	b.Cleanup(func() {
		sess.cleanup()
		client.Close()
		<-drained
		hs.Close()
		cancel()
		<-feedDone
		h.Close()
	})
	return sess, ctx, rdb
}

// connector is the hub and socket server as connector/main.go wires them,
// on a Redis client whose connections carry a name of their own.
type connector struct {
	name string
	rdb  redis.UniversalClient
	hub  *hub.Hub
	srv  *Server
}

func newConnector(t testing.TB, cfg Config) *connector {
	t.Helper()
	c := &connector{name: "pubsub-" + uuid.NewString()[:8]}
	c.rdb = redistest.Client(t, stack.RedisURL, c.name)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	authority := seqs.New(c.rdb, &seqstest.Blocks{}, log)
	c.hub = hub.New(c.rdb, hub.Config{Head: authority.Head, Logger: log})
	cfg.Logger = log
	c.srv = New(cfg, Deps{Hub: c.hub, Redis: c.rdb, Verifier: tokenIsUser{}, Members: everyoneIsMember{},
		History: noHistory{}, Log: acceptingLog{}, Presence: presence.New(c.rdb, time.Minute, log),
		Metrics: NewMetrics(prometheus.NewRegistry()), Seqs: authority})
	return c
}
