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
// message later than that is still delivered, once, out of order.
//
// Concurrency: Hub methods are safe for concurrent use. Subscribers'
// Deliver is called with a room lock held and must not block.
package hub

import (
	"context"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

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
	rdb *redis.Client
	ps  *redis.PubSub
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

type room struct {
	hub  *Hub
	id   string
	mu   sync.Mutex
	subs map[Subscriber]struct{}
	// next is the next expected seq; 0 while the first Join sets the room
	// up, when arriving messages wait in pending.
	next    int64
	pending map[int64][]byte
	timer   *time.Timer
	// ready is closed when the first Join has set the room up (or failed,
	// with joinErr); later Joins wait for it.
	ready   chan struct{}
	joinErr error
}

// New returns a hub on rdb. Run must be running for frames to arrive.
func New(rdb *redis.Client, cfg Config) *Hub {
	if cfg.GapWait == 0 {
		cfg.GapWait = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Hub{cfg: cfg, rdb: rdb, log: cfg.Logger, waiters: map[string][]chan struct{}{},
		ps: rdb.Subscribe(context.Background())}
	for i := range h.shards {
		h.shards[i].rooms = map[string]*room{}
	}
	return h
}

// maxBatch bounds how many frames from Redis are dispatched before the
// touched subscribers are flushed.
const maxBatch = 128

// Run dispatches frames from Redis until ctx ends. go-redis re-connects
// and re-subscribes by itself when the connection drops.
//
// Frames already waiting in the channel are dispatched as one batch before
// any subscriber is flushed. An idle hub thus writes each frame at once,
// while a busy one coalesces what piled up: a socket gets one write per
// batch instead of one per frame, for it and for its client, which is what
// keeps a loaded connector from spending its CPU on syscalls.
func (h *Hub) Run(ctx context.Context) {
	ch := h.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
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
		if m.Kind == "subscribe" {
			h.subscribed(m.Channel)
		}
	}
}

// subscribed handles a subscription confirmation: the answer to a Join, or
// go-redis re-subscribing after a reconnect, when frames may have been lost.
func (h *Hub) subscribed(channel string) {
	h.wmu.Lock()
	waiters, joining := h.waiters[channel]
	for _, w := range waiters {
		close(w)
	}
	delete(h.waiters, channel)
	h.wmu.Unlock()
	if joining {
		return
	}
	roomID, _ := livev1.RoomOfChannel(channel)
	r := h.lookup(roomID)
	if r == nil {
		return
	}
	h.log.Warn("re-subscribed to a room after a Redis reconnect; resyncing its sockets", "channel", channel)
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		s.Resync(r.id)
	}
}

// Close ends the subscription.
func (h *Hub) Close() error { return h.ps.Close() }

// Join adds s to a room, subscribing this connector to its channel when s
// is the first local member, and returns the room's current seq. Every
// message with a higher seq reaches s: the subscription is confirmed before
// the seq is read, and a seq is taken before its message is published.
//
// When it subscribes, Join also waits (at most SendingTTL) for the seqs up
// to the current one that are still in flight: they are published after
// the subscription, and a subscriber catching up from history (which stops
// at the Frontier) would otherwise get them after later ones.
func (h *Hub) Join(ctx context.Context, roomID string, s Subscriber) (int64, error) {
	sh := h.shard(roomID)
	sh.mu.Lock()
	r, ok := sh.rooms[roomID]
	if !ok {
		r = &room{hub: h, id: roomID, subs: map[Subscriber]struct{}{}, pending: map[int64][]byte{}, ready: make(chan struct{})}
		sh.rooms[roomID] = r
	}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	sh.mu.Unlock()
	fail := func(err error) (int64, error) {
		h.Leave(roomID, s)
		return 0, err
	}
	if ok {
		select {
		case <-r.ready:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		if r.joinErr != nil {
			return fail(r.joinErr)
		}
		seq, err := h.currentSeq(ctx, roomID)
		if err != nil {
			return fail(err)
		}
		return seq, nil
	}
	seq, err := h.setUp(ctx, r)
	r.joinErr = err
	close(r.ready)
	if err != nil {
		return fail(err)
	}
	return seq, nil
}

// currentSeq is the last seq taken in a room (0 before the first).
func (h *Hub) currentSeq(ctx context.Context, roomID string) (int64, error) {
	return h.cfg.Head(ctx, roomID)
}

// setUp subscribes to a new room's channel, reads its seq, waits for the
// seqs up to it still in flight, and starts in-order delivery after it.
func (h *Hub) setUp(ctx context.Context, r *room) (int64, error) {
	subscribed := make(chan struct{})
	h.wmu.Lock()
	h.waiters[livev1.RoomChannel(r.id)] = append(h.waiters[livev1.RoomChannel(r.id)], subscribed)
	h.wmu.Unlock()
	if err := h.ps.Subscribe(ctx, livev1.RoomChannel(r.id)); err != nil {
		return 0, err
	}
	select {
	case <-subscribed:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	seq, err := h.currentSeq(ctx, r.id)
	if err != nil {
		return 0, err
	}
	h.awaitSent(ctx, r.id, seq)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = seq + 1
	// What arrived meanwhile: seqs up to seq go out as they are (late, and
	// in history by now), later ones in order.
	touched := map[Subscriber]struct{}{}
	late := make([]int64, 0, len(r.pending))
	for p := range r.pending {
		if p < r.next {
			late = append(late, p)
		}
	}
	slices.Sort(late)
	for _, p := range late {
		if frame := r.pending[p]; frame != nil {
			r.deliver(p, frame, touched)
		}
		delete(r.pending, p)
	}
	r.drain(touched)
	if len(r.pending) > 0 && r.timer == nil {
		r.timer = time.AfterFunc(h.cfg.GapWait, r.skipGap)
	}
	for sub := range touched {
		sub.Flush()
	}
	return seq, nil
}

// awaitSent waits, at most SendingTTL, until no seq up to upTo is in flight
// in the room. If Redis cannot say, it does not wait.
func (h *Hub) awaitSent(ctx context.Context, roomID string, upTo int64) {
	ctx, cancel := context.WithTimeout(ctx, SendingTTL)
	defer cancel()
	pause := time.Millisecond
	for {
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		inFlight, err := h.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: livev1.SendingKey(roomID), Start: now, Stop: "+inf", ByScore: true}).Result()
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("checking seqs in flight at join", "room", roomID, "error", err)
			}
			return
		}
		if !slices.ContainsFunc(inFlight, func(m string) bool {
			seq, err := strconv.ParseInt(m, 10, 64)
			return err == nil && seq <= upTo
		}) {
			return
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Frontier is the seq from which the hub delivers a room's messages in
// order: every lower seq was delivered before, or given up on after
// GapWait. A subscriber catching up after Join needs history only below it;
// the rest reaches it from the hub, in order, even seqs still in flight.
// Zero when the room has no local members.
func (h *Hub) Frontier(roomID string) int64 {
	r := h.lookup(roomID)
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// Leave removes s from a room, unsubscribing when it was the last local member.
func (h *Hub) Leave(roomID string, s Subscriber) {
	sh := h.shard(roomID)
	sh.mu.Lock()
	r, ok := sh.rooms[roomID]
	if !ok {
		sh.mu.Unlock()
		return
	}
	r.mu.Lock()
	delete(r.subs, s)
	empty := len(r.subs) == 0
	if empty && r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
	if empty {
		delete(sh.rooms, roomID)
	}
	sh.mu.Unlock()
	if empty {
		if err := h.ps.Unsubscribe(context.Background(), livev1.RoomChannel(roomID)); err != nil {
			h.log.Warn("unsubscribe", "room", roomID, "error", err)
		}
	}
}

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

// SendingTTL is how long a registered seq stays in flight unless its
// sender refreshes it: a crashed sender holds its room up at most this long.
const SendingTTL = 2 * time.Second

// Sending keeps seq in flight while a slow send lasts: it refreshes the
// seq's lapse time every SendingTTL/2 until the returned stop is called.
// Only a send slower than that costs a Redis call.
func (h *Hub) Sending(roomID string, seq int64) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		timer   *time.Timer
	)
	refresh := func() {
		ctx, cancel := context.WithTimeout(context.Background(), SendingTTL/2)
		defer cancel()
		lapse := float64(time.Now().Add(SendingTTL).UnixMilli())
		if err := h.rdb.ZAddXX(ctx, livev1.SendingKey(roomID), redis.Z{Score: lapse, Member: seq}).Err(); err != nil {
			h.log.Warn("keeping a slow send in flight", "room", roomID, "seq", seq, "error", err)
		}
		mu.Lock()
		if !stopped {
			timer.Reset(SendingTTL / 2)
		}
		mu.Unlock()
	}
	mu.Lock()
	timer = time.AfterFunc(SendingTTL/2, refresh)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		timer.Stop()
		mu.Unlock()
	}
}

// maxGapCheck bounds how many missing seqs one check looks up.
const maxGapCheck = 64

// inFlight reports how long the longest-lived of the missing seqs in
// [from, to) is still in flight; 0 when none is (or Redis cannot say).
func (h *Hub) inFlight(roomID string, from, to int64) time.Duration {
	if to <= from {
		return 0
	}
	members := make([]string, 0, min(to-from, maxGapCheck))
	for seq := from; seq < to && len(members) < maxGapCheck; seq++ {
		members = append(members, strconv.FormatInt(seq, 10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.GapWait)
	defer cancel()
	lapses, err := h.rdb.ZMScore(ctx, livev1.SendingKey(roomID), members...).Result()
	if err != nil {
		h.log.Warn("checking missing seqs; skipping them", "room", roomID, "error", err)
		return 0
	}
	now := time.Now()
	var wait time.Duration
	for _, ms := range lapses { // 0 for a seq not in the set
		wait = max(wait, time.UnixMilli(int64(ms)).Sub(now))
	}
	return wait
}

// Publish sends an envelope to a room's channel.
func (h *Hub) Publish(ctx context.Context, roomID string, envelope []byte) error {
	return h.rdb.Publish(ctx, livev1.RoomChannel(roomID), envelope).Err()
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

// ordered delivers seq in order, holding later ones back. Called with r.mu held.
func (r *room) ordered(seq int64, frame []byte, touched map[Subscriber]struct{}) {
	if r.next == 0 { // Join is setting the room up
		r.pending[seq] = frame
		return
	}
	switch {
	case seq < r.next:
		// Late beyond GapWait, or from before this room's first message
		// here: deliver anyway; clients order by seq.
		if frame != nil {
			r.deliver(seq, frame, touched)
		}
		return
	case seq > r.next:
		r.pending[seq] = frame
		if r.timer == nil {
			r.timer = time.AfterFunc(r.hub.cfg.GapWait, r.skipGap)
		}
		return
	}
	if frame != nil {
		r.deliver(seq, frame, touched)
	}
	r.next++
	r.drain(touched)
}

// drain delivers held-back messages that are now in order.
func (r *room) drain(touched map[Subscriber]struct{}) {
	for {
		frame, ok := r.pending[r.next]
		if !ok {
			break
		}
		delete(r.pending, r.next)
		if frame != nil {
			r.deliver(r.next, frame, touched)
		}
		r.next++
	}
	if len(r.pending) == 0 && r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// skipGap runs GapWait after a seq went missing. While a missing seq is
// in flight (its sender is still waiting on Kafka) it waits again;
// otherwise it gives up on the missing seq(s): the lowest held message goes
// out and delivery continues from there.
func (r *room) skipGap() {
	r.mu.Lock()
	r.timer = nil
	if len(r.pending) == 0 {
		r.mu.Unlock()
		return
	}
	from, to := r.next, r.lowestPending()
	r.mu.Unlock()
	wait := r.hub.inFlight(r.id, from, to) // no Redis call under the lock
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return
	}
	if wait > 0 || r.next != from { // still in flight, or moved on meanwhile: look again later
		if r.timer == nil {
			r.timer = time.AfterFunc(min(max(wait, time.Millisecond), r.hub.cfg.GapWait), r.skipGap)
		}
		return
	}
	r.next = r.lowestPending()
	touched := map[Subscriber]struct{}{}
	r.drain(touched)
	for s := range touched {
		s.Flush()
	}
	if len(r.pending) > 0 && r.timer == nil {
		r.timer = time.AfterFunc(r.hub.cfg.GapWait, r.skipGap)
	}
}

func (r *room) lowestPending() int64 {
	lowest := int64(-1)
	for s := range r.pending {
		if lowest < 0 || s < lowest {
			lowest = s
		}
	}
	return lowest
}

func (r *room) deliver(seq int64, frame []byte, touched map[Subscriber]struct{}) {
	for s := range r.subs {
		s.Deliver(r.id, seq, frame)
		touched[s] = struct{}{}
	}
}
