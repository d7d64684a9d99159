package hub

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/stores"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Redis, &stack))
}

// recorder lists the frames the hub delivered and flushed: a frame
// delivered but never flushed would sit in a socket's queue forever, so
// it does not count.
type recorder struct {
	mu      sync.Mutex
	got     []string
	queued  []string
	flushes int
	gate    chan struct{} // if set, the first Deliver waits for it to close
}

func (r *recorder) Deliver(room string, seq int64, frame []byte) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.queued = append(r.queued, fmt.Sprintf("%d:%s", seq, frame))
	r.mu.Unlock()
}

func (r *recorder) Flush() {
	r.mu.Lock()
	r.got = append(r.got, r.queued...)
	r.queued = nil
	r.flushes++
	r.mu.Unlock()
}

func (r *recorder) Resync(room string) {
	r.mu.Lock()
	r.got = append(r.got, "resync:"+room)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func newHub(t testing.TB, wait time.Duration) *Hub {
	return newHubWatchingHeads(t, wait, func(string, int64) {})
}

// newHubWatchingHeads is newHub telling read about every seq its Joins read,
// for tests that must act between a Join's read and its return.
func newHubWatchingHeads(t testing.TB, wait time.Duration, read func(room string, seq int64)) *Hub {
	rdb := redistest.Client(t, stack.RedisURL, "") // closed after the hub: cleanups run last first
	h := New(rdb, Config{GapWait: wait, Head: func(ctx context.Context, room string) (int64, error) {
		seq, err := rdb.Get(ctx, "seq:{"+room+"}").Int64()
		if err == redis.Nil {
			seq, err = 0, nil
		}
		if err == nil {
			read(room, seq)
		}
		return seq, err
	}})
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { cancel(); h.Close() })
	return h
}

func waitFor(t *testing.T, r *recorder, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.list()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %v, want %d frames", r.list(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // nothing more should come
	return r.list()
}

func TestOrderAcrossConnectors(t *testing.T) {
	a, b := newHub(t, time.Second), newHub(t, time.Second)
	ra, rb := &recorder{}, &recorder{}
	ctx := context.Background()
	if _, err := a.Join(ctx, "r1", ra); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, "r1", rb); err != nil {
		t.Fatal(err)
	}
	// Published out of order by two connectors; delivered in order everywhere.
	for _, seq := range []int64{1, 3, 2, 5, 4} {
		pub := a
		if seq%2 == 0 {
			pub = b
		}
		if err := pub.Publish(ctx, "r1", livev1.MessageEnvelope(seq, []byte(fmt.Sprintf(`{"seq":%d}`, seq)))); err != nil {
			t.Fatal(err)
		}
	}
	want := `[1:{"seq":1} 2:{"seq":2} 3:{"seq":3} 4:{"seq":4} 5:{"seq":5}]`
	for _, r := range []*recorder{ra, rb} {
		if got := fmt.Sprint(waitFor(t, r, 5)); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func TestGapsAreSkipped(t *testing.T) {
	h := newHub(t, 100*time.Millisecond)
	r := &recorder{}
	ctx := context.Background()
	h.Join(ctx, "r2", r)
	h.Publish(ctx, "r2", livev1.MessageEnvelope(1, []byte("a")))
	h.Publish(ctx, "r2", livev1.MessageEnvelope(3, []byte("c"))) // 2 is lost (its sender crashed)
	h.Publish(ctx, "r2", livev1.MessageEnvelope(5, []byte("e")))
	h.Publish(ctx, "r2", livev1.GapEnvelope(4)) // 4 failed and says so
	h.Publish(ctx, "r2", livev1.EphemeralEnvelope([]byte("typing")))
	got := fmt.Sprint(waitFor(t, r, 4))
	if got != "[1:a 0:typing 3:c 5:e]" {
		t.Errorf("got %s", got)
	}
}

func TestJoinReturnsTheCurrentSeqAndMissesNothingAfterIt(t *testing.T) {
	h := newHub(t, time.Second)
	ctx := context.Background()
	h.rdb.Set(ctx, "seq:{r4}", 41, 0)
	r := &recorder{}
	seq, err := h.Join(ctx, "r4", r)
	if err != nil || seq != 41 {
		t.Fatalf("Join = %d, %v; want 41", seq, err)
	}
	// Published right after Join returns: must arrive (no sleep needed).
	h.Publish(ctx, "r4", livev1.MessageEnvelope(42, []byte("x")))
	if got := fmt.Sprint(waitFor(t, r, 1)); got != "[42:x]" {
		t.Fatalf("got %s", got)
	}
}

func TestLeaveUnsubscribes(t *testing.T) {
	h := newHub(t, time.Second)
	r := &recorder{}
	ctx := context.Background()
	h.Join(ctx, "r3", r)
	if h.Rooms() != 1 {
		t.Fatal("room not tracked")
	}
	h.Leave("r3", r)
	if h.Rooms() != 0 {
		t.Fatal("empty room kept")
	}
	time.Sleep(50 * time.Millisecond)
	h.Publish(ctx, "r3", livev1.MessageEnvelope(1, []byte("x")))
	time.Sleep(50 * time.Millisecond)
	if len(r.list()) != 0 {
		t.Fatal("delivered after leave")
	}
}

func TestResyncAfterARedisReconnect(t *testing.T) {
	h := newHub(t, time.Second)
	r := &recorder{}
	ctx := context.Background()
	h.Join(ctx, "r5", r)
	// Drop every pub/sub connection, as a Redis restart or a network cut
	// would: on each master of a cluster, since the room's may be any.
	if err := stores.ForEachMaster(ctx, h.rdb, func(ctx context.Context, node *redis.Client) error {
		return node.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err()
	}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(waitFor(t, r, 1)); got != "[resync:r5]" {
		t.Fatalf("got %s", got)
	}
}

func TestFramesThatPiledUpLeaveInOneFlush(t *testing.T) {
	h := newHub(t, time.Second)
	gate := make(chan struct{})
	r := &recorder{gate: gate}
	ctx := context.Background()
	h.Join(ctx, "r6", r)
	// The first frame stalls the hub (as a busy connector would be) while
	// the rest arrive from Redis.
	for seq := int64(1); seq <= 50; seq++ {
		h.Publish(ctx, "r6", livev1.MessageEnvelope(seq, []byte("x")))
	}
	time.Sleep(200 * time.Millisecond)
	close(gate)
	got := waitFor(t, r, 50)
	if len(got) != 50 || got[49] != "50:x" {
		t.Fatalf("got %v", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flushes > 2 {
		t.Errorf("50 frames that were waiting took %d flushes, want them coalesced", r.flushes)
	}
}

func TestParseEnvelopeRejectsGarbage(t *testing.T) {
	for _, p := range []string{"", "m", "m12", "mx {}", "g", "gx", "z {}"} {
		if _, _, _, err := livev1.ParseEnvelope(p); err == nil {
			t.Errorf("accepted %q", p)
		}
	}
}

func TestFrontierIsWhereInOrderDeliveryStands(t *testing.T) {
	h := newHub(t, time.Minute)
	r := &recorder{}
	ctx := context.Background()
	h.rdb.Set(ctx, "seq:{r7}", 10, 0)
	if _, err := h.Join(ctx, "r7", r); err != nil {
		t.Fatal(err)
	}
	if f := h.Frontier("r7"); f != 11 {
		t.Fatalf("frontier after join = %d, want 11", f)
	}
	h.Publish(ctx, "r7", livev1.MessageEnvelope(12, []byte("b"))) // 11 still in flight
	time.Sleep(100 * time.Millisecond)
	if f := h.Frontier("r7"); f != 11 {
		t.Fatalf("frontier with 11 in flight = %d, want 11", f)
	}
	h.Publish(ctx, "r7", livev1.MessageEnvelope(11, []byte("a")))
	if got := fmt.Sprint(waitFor(t, r, 2)); got != "[11:a 12:b]" {
		t.Fatalf("got %s", got)
	}
	if f := h.Frontier("r7"); f != 13 {
		t.Fatalf("frontier = %d, want 13", f)
	}
	if h.Frontier("elsewhere") != 0 {
		t.Fatal("frontier of a room without local members")
	}
}

// A missing seq whose sender is still waiting on Kafka is waited for past
// GapWait, so a slow append does not reorder the room; one that lapsed
// (its sender crashed) or was withdrawn is skipped after GapWait.
func TestMissingSeqIsWaitedForWhileInFlight(t *testing.T) {
	h := newHub(t, 100*time.Millisecond)
	r := &recorder{}
	ctx := context.Background()
	h.Join(ctx, "r9", r)
	h.rdb.ZAdd(ctx, livev1.SendingKey("r9"), redis.Z{Score: float64(time.Now().Add(SendingTTL).UnixMilli()), Member: 1}) // as the claim does
	stop := h.Sending("r9", 1)
	defer stop()
	h.Publish(ctx, "r9", livev1.MessageEnvelope(2, []byte("b")))
	// Longer than GapWait and than SendingTTL: only the refreshes keep 1 alive.
	time.Sleep(SendingTTL + 500*time.Millisecond)
	if got := r.list(); len(got) != 0 {
		t.Fatalf("delivered %v while seq 1 was in flight", got)
	}
	stop()
	h.rdb.ZRem(ctx, livev1.SendingKey("r9"), 1) // published, as deliver does it
	h.Publish(ctx, "r9", livev1.MessageEnvelope(1, []byte("a")))
	if got := fmt.Sprint(waitFor(t, r, 2)); got != "[1:a 2:b]" {
		t.Fatalf("got %s", got)
	}

	// A lapsed entry (a crashed sender that refreshes no more) holds nothing up.
	h.rdb.ZAdd(ctx, livev1.SendingKey("r9"), redis.Z{Score: float64(time.Now().Add(-time.Second).UnixMilli()), Member: 3})
	h.Publish(ctx, "r9", livev1.MessageEnvelope(4, []byte("d")))
	if got := fmt.Sprint(waitFor(t, r, 3)); got != "[1:a 2:b 4:d]" {
		t.Fatalf("after a lapsed seq: got %s", got)
	}
}

// The first local member of a room joins while a seq up to the room's
// current one is still in flight: Join waits until it is published, so the
// history read after Join has it, and what was published meanwhile is
// delivered from the frontier on, once.
func TestFirstJoinWaitsForSeqsStillInFlight(t *testing.T) {
	heads := make(chan int64, 2)
	h := newHubWatchingHeads(t, time.Minute, func(_ string, seq int64) { heads <- seq })
	ctx := context.Background()
	h.rdb.Set(ctx, "seq:{r11}", 5, 0)
	// In flight for longer than the test takes: only its ZREM below ends the wait.
	h.rdb.ZAdd(ctx, livev1.SendingKey("r11"), redis.Z{Score: float64(time.Now().Add(time.Minute).UnixMilli()), Member: 5})
	r, second := &recorder{}, &recorder{}
	joined := make(chan int64, 2)
	join := func(sub *recorder) {
		seq, err := h.Join(ctx, "r11", sub)
		if err != nil {
			t.Error(err)
		}
		joined <- seq
	}
	go join(r)
	if seq := <-heads; seq != 5 { // subscribed, then read the seq: seq 6 is taken only after
		t.Fatalf("first Join read seq %d, want 5", seq)
	}
	go join(second) // a second local member waits for the first to finish
	h.rdb.Incr(ctx, "seq:{r11}")
	h.Publish(ctx, "r11", livev1.MessageEnvelope(6, []byte("f"))) // a later seq is quicker
	select {
	case seq := <-joined:
		t.Fatalf("Join returned %d while seq 5 was in flight", seq)
	case <-time.After(300 * time.Millisecond):
	}
	h.rdb.ZRem(ctx, livev1.SendingKey("r11"), 5) // published, as deliver does it
	h.Publish(ctx, "r11", livev1.MessageEnvelope(5, []byte("e")))
	var seqs []int64
	for range 2 {
		select {
		case seq := <-joined:
			seqs = append(seqs, seq)
		case <-time.After(SendingTTL):
			t.Fatal("Join still waiting after seq 5 was published")
		}
	}
	if slices.Sort(seqs); fmt.Sprint(seqs) != "[5 6]" { // the first Join read 5, the second 6
		t.Errorf("Joins returned %v", seqs)
	}
	got := waitFor(t, r, 2)
	if !slices.Contains(got, "6:f") || !slices.Contains(got, "5:e") || len(got) != 2 {
		t.Errorf("got %v, want 5 and 6 once each", got)
	}
	if f := h.Frontier("r11"); f != 7 {
		t.Errorf("frontier %d, want 7", f)
	}
}
