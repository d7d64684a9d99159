package hub

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/knative/procstat"
	"github.com/parley-chat/parley/knative/stores"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// counter is a subscriber that only counts what reaches it.
type counter struct{ n *atomic.Int64 }

func (c counter) Deliver(string, int64, []byte) { c.n.Add(1) }
func (counter) Flush()                          {}
func (counter) Resync(string)                   {}

// BenchmarkEnvelope is what one room envelope costs a connector holding
// some of the room's members: the Redis subscription's read, the hub's
// parse, order and dispatch to 33 local members (a room of 100 dealt over
// three connectors), at 500 envelopes/s as in issue 16's S1, so each
// arrives alone and wakes the process as it would between messages. CPU
// is this process's per envelope, the publisher's pipelined SPUBLISH
// included; sockets are not written (the counter stands for them).
func BenchmarkEnvelope(b *testing.B) {
	const members, interval = 33, 2 * time.Millisecond
	h := newHub(b, time.Second)
	pub, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	room := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var delivered atomic.Int64
	ctx := context.Background()
	for i := range members {
		n := &atomic.Int64{}
		if i == 0 {
			n = &delivered
		}
		if _, err := h.Join(ctx, room, counter{n}); err != nil {
			b.Fatal(err)
		}
	}
	frame := []byte(`{"type":"message","room_id":"` + room + `","text":"` + `hello, this is a message of about a hundred characters, as S1 sends them to rooms."}`)
	seq := int64(0)
	b.ResetTimer()
	before, err := procstat.Read(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for b.Loop() {
		<-tick.C
		seq++
		if err := pub.SPublish(ctx, livev1.RoomChannel(room), livev1.MessageEnvelope(seq, frame)).Err(); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); delivered.Load() < seq; <-time.After(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d envelopes delivered", delivered.Load(), seq)
		}
	}
	after, err := procstat.Read(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((after.CPU-before.CPU).Microseconds())/float64(seq), "cpu_us/envelope")
}
