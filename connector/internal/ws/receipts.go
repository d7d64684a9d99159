package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/protocol"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// receiptsKey is the Redis hash of a room's read positions, user -> seq.
func receiptsKey(roomID string) string { return "receipts:{" + roomID + "}" }

// read moves the reader's position forward, sends their sockets the new
// unread counts, logs the receipt for persist and shows it to the room.
func (s *session) read(ctx context.Context, f protocol.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok || !s.inRange(ctx, f, f.RoomID, "seq", f.Seq) {
		return
	}
	counts, raised, err := unread(ctx, s.srv.rdb, f.RoomID, id.UserID, f.Seq)
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	if !raised {
		return
	}
	if err := tellUnread(ctx, s.srv.rdb, f.RoomID, id.UserID, counts); err != nil {
		s.srv.logger.Warn("other sockets keep their unread counts until they resubscribe", "error", err)
	}
	now := time.Now().UTC()
	if err := s.srv.log.Append(ctx, s.event(ctx, eventsv1.TypeReceiptRead, uuid.NewString(), f.RoomID,
		eventsv1.ReceiptRead{RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq, At: now})); err != nil {
		s.srv.logger.Warn("receipt not logged", "error", err)
	}
	frame, _ := json.Marshal(protocol.ReceiptFrame{Type: protocol.TypeReceipt, RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq})
	s.srv.hub.Publish(ctx, f.RoomID, hub.EphemeralEnvelope(frame))
}
