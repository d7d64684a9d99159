package main

import (
	"context"
	"encoding/json"
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

// replaceScript swaps the entry of a seq, if the window still holds it.
var replaceScript = redis.NewScript(livev1.ReplaceInHistory)

func (c *cache) replace(ctx context.Context, m eventsv1.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return replaceScript.Run(ctx, c.rdb, []string{livev1.HistoryKey(m.RoomID), livev1.ChangesKey(m.RoomID)}, m.Seq, b).Err()
}

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
