// Package hub fans room traffic out to the sockets of this connector.
//
// Every connector publishes what happens in a room to the Redis channel of
// that room, already encoded as the frame clients receive, and subscribes to
// the channels of the rooms its sockets are in. A frame is encoded once per
// room and the same bytes go to every local subscriber.
//
// Messages carry a per-room seq. Connectors publish after their own Kafka
// ack, so two messages of a room may reach Redis out of order; each room
// holds a later seq back until the earlier arrives, so subscribers see
// messages in seq order. A sender registers the seq it takes as in flight
// (see Sending); a hub waits for a missing seq as long as it is in flight,
// and GapWait for one that is not (its sender crashed, or gave up). A
// message later than that is still delivered, once, out of order. The
// ordering itself is package order; the hub adds the room lock, the wait
// for a missing seq (order.go) and the subscriptions (rooms.go).
//
// The hub owns its Redis subscriptions (shard channels, one connection per
// master that owns a room of its; see shardsub), opened by the first Join
// and closed by Close or when Run returns.
//
// Concurrency: Hub methods are safe for concurrent use. Subscribers'
// Deliver is called with a room lock held and must not block.
package hub

import (
	"context"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/shardsub"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Subscriber receives a room's frames. Deliver queues a frame and Flush
// starts writing what was queued; the hub calls Flush once after a batch of
// Deliver calls, so frames that arrive together leave in one socket write.
// Neither may block: a subscriber that cannot keep up drops itself
// (slow-consumer close).
type Subscriber interface {
	Deliver(roomID string, seq int64, frame []byte)
	Flush()
	// Resync is called after the Redis subscription was re-established
	// (the connection dropped): frames published meanwhile were missed and
	// must be fetched from history. It must not block.
	Resync(roomID string)
}

// Config configures a Hub.
type Config struct {
	// Head returns the last seq taken in a room (0 before the first),
	// as the seq authority knows it. Required.
	Head func(ctx context.Context, roomID string) (int64, error)
	// GapWait bounds how long a later message waits for an earlier one.
	// Only a seq that never comes (its sender crashed between taking the seq
	// and publishing) costs the full wait, so it can be generous enough to
	// cover a slow Kafka acknowledgement under load. Default 1s.
	GapWait time.Duration
	Logger  *slog.Logger
	// FanoutObserved, if set, receives how long each frame from Redis took
	// to reach the queue of every local subscriber of its room.
	FanoutObserved func(time.Duration)
}

// Hub is this connector's side of the room channels.
type Hub struct {
	cfg Config
	rdb redis.UniversalClient
	// ps holds the rooms' subscriptions, opened by the first Join (New
	// opens nothing) and closed by Close or Run's return.
	ps  *shardsub.Sub
	log *slog.Logger

	shards [roomShards]shard

	wmu     sync.Mutex
	waiters map[string][]chan struct{} // channel -> joins waiting for the subscription
}

// roomShards spreads the rooms over locks, so a Join or Leave in one room
// does not wait on another's and dispatch waits on neither.
const roomShards = 64

type shard struct {
	mu    sync.Mutex
	rooms map[string]*room
}

func (h *Hub) shard(roomID string) *shard {
	f := fnv.New32a()
	f.Write([]byte(roomID))
	return &h.shards[f.Sum32()%roomShards]
}

// lookup returns a room with local members, or nil.
func (h *Hub) lookup(roomID string) *room {
	sh := h.shard(roomID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.rooms[roomID]
}

// New returns a hub on rdb. Run must be running for frames to arrive.
func New(rdb redis.UniversalClient, cfg Config) *Hub {
	if cfg.GapWait == 0 {
		cfg.GapWait = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Hub{cfg: cfg, rdb: rdb, log: cfg.Logger, waiters: map[string][]chan struct{}{},
		ps: shardsub.New(rdb, 4096, cfg.Logger)}
	for i := range h.shards {
		h.shards[i].rooms = map[string]*room{}
	}
	return h
}

// maxBatch bounds how many frames from Redis are dispatched before the
// touched subscribers are flushed.
const maxBatch = 128

// Run dispatches frames from Redis until ctx ends, then closes the
// subscriptions. go-redis re-connects and re-subscribes by itself when a
// connection drops.
//
// Frames already waiting in the channel are dispatched as one batch before
// any subscriber is flushed. An idle hub thus writes each frame at once,
// while a busy one coalesces what piled up: a socket gets one write per
// batch instead of one per frame, for it and for its client, which is what
// keeps a loaded connector from spending its CPU on syscalls.
func (h *Hub) Run(ctx context.Context) {
	defer h.Close()
	ch := h.ps.Channel()
	touched := map[Subscriber]struct{}{}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			h.handle(m, touched)
		}
	waiting:
		for range maxBatch - 1 {
			select {
			case m, ok := <-ch:
				if !ok {
					return
				}
				h.handle(m, touched)
			default:
				break waiting
			}
		}
		for s := range touched {
			s.Flush()
		}
		clear(touched)
	}
}

func (h *Hub) handle(m any, touched map[Subscriber]struct{}) {
	switch m := m.(type) {
	case *redis.Message:
		h.dispatch(m.Channel, m.Payload, touched)
	case *redis.Subscription:
		if m.Kind == "ssubscribe" {
			h.subscribed(m.Channel)
		}
	}
}

// Close ends the subscription and closes its connection. It may be called
// more than once, and whether or not Run ran.
func (h *Hub) Close() error { return h.ps.Close() }

// Rooms is the number of rooms with local members.
func (h *Hub) Rooms() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		n += len(sh.rooms)
		sh.mu.Unlock()
	}
	return n
}

// dispatch delivers one envelope, recording in touched who must be flushed.
func (h *Hub) dispatch(channel, payload string, touched map[Subscriber]struct{}) {
	roomID, ok := livev1.RoomOfChannel(channel)
	if !ok {
		return
	}
	r := h.lookup(roomID)
	if r == nil {
		return
	}
	kind, seq, frame, err := livev1.ParseEnvelope(payload)
	if err != nil {
		h.log.Warn("dropping malformed envelope", "room", roomID, "error", err)
		return
	}
	start := time.Now()
	r.mu.Lock()
	switch kind {
	case livev1.EnvelopeEphemeral:
		r.deliver(0, frame, touched)
	case livev1.EnvelopeMessage, livev1.EnvelopeGap:
		r.ordered(seq, frame, touched)
	}
	r.mu.Unlock()
	if h.cfg.FanoutObserved != nil {
		h.cfg.FanoutObserved(time.Since(start))
	}
}
