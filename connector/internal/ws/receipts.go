package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// raiseReceipt stores a read position only if it moves forward.
var raiseReceipt = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0`)

func (s *session) read(ctx context.Context, f livev1.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok || !s.inRange(ctx, f, f.RoomID, "seq", f.Seq) {
		return
	}
	raised, err := raiseReceipt.Run(ctx, s.srv.rdb, []string{livev1.ReceiptsKey(f.RoomID)}, id.UserID, f.Seq).Int()
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
	frame, _ := json.Marshal(livev1.ReceiptFrame{Type: livev1.TypeReceipt, RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq})
	s.srv.hub.Publish(ctx, f.RoomID, livev1.EphemeralEnvelope(frame))
}
