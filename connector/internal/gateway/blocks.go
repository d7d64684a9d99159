package gateway

import (
	"context"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// MirrorBlocks makes the gateway copy each block and unblock of a 1:1
// room into rdb (livev1.BlockedKey) before it answers, where every
// connector's send path reads it: a send right after a block is refused,
// not only once the block's event has reached the connectors.
func (g *Gateway) MirrorBlocks(rdb redis.UniversalClient) { g.blocks = rdb }

// mirrorBlock adds the blocked user to (or, on unblock, removes them from)
// the set of users the pair's 1:1 room refuses. auth has recorded the
// change already; if Redis fails, the request fails as unavailable and
// the client's retry (PUT and DELETE are idempotent) mirrors it again.
func (g *Gateway) mirrorBlock(ctx context.Context, roomID, userID string, blocked bool) *apiError {
	if g.blocks == nil || roomID == "" {
		return nil // no 1:1 room: nothing to refuse
	}
	id, err := uuid.Parse(userID) // auth accepted it; the set holds ids as tokens carry them
	if err != nil {
		return nil
	}
	key := livev1.BlockedKey(roomID)
	if blocked {
		err = g.blocks.SAdd(ctx, key, id.String()).Err()
	} else {
		err = g.blocks.SRem(ctx, key, id.String()).Err()
	}
	if err != nil {
		g.log.Warn("block not mirrored for the send path", "room", roomID, "error", err)
		return errAuthUnavailable
	}
	return nil
}
