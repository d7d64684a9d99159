package main

import (
	"context"
	"encoding/json"
	"errors"
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
	rdb *redis.Client
}

// replaceRetries bounds the attempts of replace; each fails only when the
// room's window changed in between (a send, a reaction).
const replaceRetries = 10

// replace swaps the window's entry of m's seq for m, if the window still
// holds it, keeping the entry's reactions. The connector applies every
// reaction to the window as it tells the room, so the window's are the
// newest; the store's copy, which persist reaches later through its
// Trigger, may still lack some, and writing it whole would take back
// reactions the room has already seen. So the entry is read and rewritten
// in one optimistic transaction, as the connector's reactions are.
func (c *cache) replace(ctx context.Context, m eventsv1.Message) error {
	key := livev1.HistoryKey(m.RoomID)
	for range replaceRetries {
		err := c.rdb.Watch(ctx, func(tx *redis.Tx) error {
			vals, err := tx.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, ByScore: true, Start: m.Seq, Stop: m.Seq}).Result()
			if err != nil || len(vals) != 1 {
				return err // not in the window: nothing to replace
			}
			var held eventsv1.Message
			if err := json.Unmarshal([]byte(vals[0]), &held); err != nil || held.ID != m.ID {
				return nil
			}
			// A hidden or deleted message shows none, and the store's are
			// all there is to restore.
			if shown(m) && shown(held) {
				m.Reactions = held.Reactions
			}
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Eval(ctx, livev1.ReplaceInHistory, []string{key, livev1.ChangesKey(m.RoomID)}, m.Seq, b)
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("persist: rewriting %s in the window: the room's window kept changing", m.ID)
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
