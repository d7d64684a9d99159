package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/protocol"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// receiptsKey is the Redis hash of a room's read positions, user -> seq.
func receiptsKey(roomID string) string { return "receipts:{" + roomID + "}" }

// raiseReceipt stores a read position only if it moves forward.
var raiseReceipt = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0`)

func (s *session) read(ctx context.Context, f protocol.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok || !s.inRange(ctx, f, f.RoomID, "seq", f.Seq) {
		return
	}
	raised, err := raiseReceipt.Run(ctx, s.srv.rdb, []string{receiptsKey(f.RoomID)}, id.UserID, f.Seq).Int()
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	if raised == 0 {
		return
	}
	now := time.Now().UTC()
	if err := s.srv.log.Append(ctx, s.event(ctx, eventsv1.TypeReceiptRead, uuid.NewString(), f.RoomID,
		eventsv1.ReceiptRead{RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq, At: now})); err != nil {
		s.srv.logger.Warn("receipt not logged", "error", err)
	}
	frame, _ := json.Marshal(protocol.ReceiptFrame{Type: protocol.TypeReceipt, RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq})
	s.srv.hub.Publish(ctx, f.RoomID, hub.EphemeralEnvelope(frame))
}
