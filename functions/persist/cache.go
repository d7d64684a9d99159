package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// cache is the recent-history window in Redis (see livev1.HistoryKey):
// the connector adds messages as it publishes them; persist rewrites
// entries that change and reads from it first.
type cache struct {
	rdb redis.UniversalClient
}

// replace swaps the window's entry of m's seq for m, if the window still
// holds it, keeping the entry's reactions. The connector applies every
// reaction to the window as it tells the room, so the window's are the
// newest; the store's copy, which persist reaches later through its
// Trigger, may still lack some, and writing it whole would take back
// reactions the room has already seen. So the entry is read, changed and
// swapped back only if unchanged (livev1.RewriteInWindow), as the
// connector's reactions and edits are. A thread summary never goes back.
func (c *cache) replace(ctx context.Context, m eventsv1.Message) error {
	err := livev1.RewriteInWindow(ctx, c.rdb, m.RoomID, m.Seq, m.ID, func(held *eventsv1.Message) (bool, error) {
		next := m // m stays as given for the next attempt
		// A hidden or deleted message shows none, and the store's are
		// all there is to restore.
		if shown(m) && shown(*held) {
			next.Reactions = held.Reactions
		}
		// A thread's replies are only ever added (a deleted one is still
		// counted), so a summary of fewer replies is older: another
		// persist replica wrote a newer one first.
		if next.Thread != nil && held.Thread != nil && held.Thread.ReplyCount > next.Thread.ReplyCount {
			next.Thread = held.Thread
		}
		*held = next
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("persist: rewriting %s in the window: %w", m.ID, err)
	}
	return nil
}

func shown(m eventsv1.Message) bool { return !m.Hidden && !m.Deleted }

// window returns the cached messages with seq in (after, before), ascending
// when asc, newest first otherwise, at most limit, and the lowest seq the
// window holds (0 when empty).
func (c *cache) window(ctx context.Context, roomID string, after, before int64, asc bool, limit int) ([][]byte, int64, error) {
	key := livev1.HistoryKey(roomID)
	pipe := c.rdb.Pipeline()
	lowest := pipe.ZRangeWithScores(ctx, key, 0, 0)
	max := "+inf"
	if before > 0 {
		max = "(" + strconv.FormatInt(before, 10)
	}
	rng := &redis.ZRangeBy{Min: "(" + strconv.FormatInt(after, 10), Max: max, Count: int64(limit)}
	var members *redis.StringSliceCmd
	if asc {
		members = pipe.ZRangeByScore(ctx, key, rng)
	} else {
		members = pipe.ZRevRangeByScore(ctx, key, rng)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, 0, err
	}
	var low int64
	if l := lowest.Val(); len(l) > 0 {
		low = int64(l[0].Score)
	}
	out := make([][]byte, 0, len(members.Val()))
	for _, m := range members.Val() {
		out = append(out, []byte(m))
	}
	return out, low, nil
}
