package hub

import (
	"context"
	"sync"
	"time"

	"github.com/parley-chat/parley/connector/internal/hub/order"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// room is a room with local members: its subscribers, and the ordering of
// its messages (held back entirely while the first Join sets the room up).
type room struct {
	hub   *Hub
	id    string
	mu    sync.Mutex
	subs  map[Subscriber]struct{}
	order order.Buffer
	timer *time.Timer // gives up on a missing seq (skipGap)
	// ready is closed when the first Join has set the room up (or failed,
	// with joinErr); later Joins wait for it.
	ready   chan struct{}
	joinErr error
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
		r = &room{hub: h, id: roomID, subs: map[Subscriber]struct{}{}, ready: make(chan struct{})}
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
	// What arrived meanwhile: seqs up to seq go out as they are (late, and
	// in history by now), later ones in order.
	touched := map[Subscriber]struct{}{}
	for _, m := range r.order.Start(seq) {
		r.deliver(m.Seq, m.Frame, touched)
	}
	r.drain(touched)
	for sub := range touched {
		sub.Flush()
	}
	return seq, nil
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
