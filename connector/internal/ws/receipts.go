package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

// read moves the reader's position forward, sends their sockets the new
// unread counts, logs the receipt for persist and shows it to the room.
func (s *session) read(ctx context.Context, f livev1.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok || !s.inRange(ctx, f, f.RoomID, "seq", f.Seq) {
		return
	}
	if f.ThreadID != "" {
		s.readThread(ctx, f)
		return
	}
	counts, moved, err := unread(ctx, s.srv.rdb, f.RoomID, id.UserID, f.Seq, false)
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	if !moved.raised {
		return
	}
	// Before the counts go out, so a client that sees its mentions go and
	// reloads its notifications finds them read. Only a read past mentions
	// calls (and may wake) the notification function.
	if moved.mentionsPassed > 0 && s.srv.notices != nil {
		if _, err := s.srv.notices.MarkRead(ctx, &notificationv1.MarkReadRequest{UserId: id.UserID, RoomId: f.RoomID, UpToSeq: f.Seq}); err != nil {
			s.srv.logger.Warn("mentions read in the room stay unread in the notification list", "error", err)
		}
	}
	if err := tellUnread(ctx, s.srv.rdb, f.RoomID, id.UserID, counts); err != nil {
		s.srv.logger.Warn("other sockets keep their unread counts until they resubscribe", "error", err)
	}
	now := time.Now().UTC()
	if err := s.srv.log.Append(ctx, s.event(ctx, eventsv1.TypeReceiptRead, uuid.NewString(), f.RoomID,
		eventsv1.ReceiptRead{RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq, At: now})); err != nil {
		s.srv.logger.Warn("receipt not logged", "error", err)
	}
	frame, _ := json.Marshal(livev1.ReceiptFrame{Type: livev1.TypeReceipt, RoomID: f.RoomID, UserID: id.UserID, Seq: f.Seq})
	s.srv.hub.Publish(ctx, f.RoomID, livev1.EphemeralEnvelope(frame))
}
