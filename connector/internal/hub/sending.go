package hub

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

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
