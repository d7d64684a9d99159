package hub

import (
	"context"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Publish sends an envelope (livev1.MessageEnvelope, EphemeralEnvelope or
// GapEnvelope) to a room's channel.
func (h *Hub) Publish(ctx context.Context, roomID string, envelope []byte) error {
	return h.rdb.SPublish(ctx, livev1.RoomChannel(roomID), envelope).Err()
}
