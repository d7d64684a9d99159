package ws

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// change edits or deletes a message: the author may, and for deletes so
// may moderators and admins.
// Each costs a send of the user's send rate: it is an event in the room's
// log, for persist and search to apply, like a send.
func (s *session) change(ctx context.Context, f livev1.Frame) {
	id := s.identity()
	if !s.srv.sendRate.Allow(id.UserID) {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeRateLimited,
			Message: "changing messages too fast", RetryAfterMS: 200})
		return
	}
	if _, ok := s.member(ctx, f, f.RoomID); !ok {
		return
	}
	// A blocked user may still delete what they wrote, not change it.
	if f.Type == livev1.TypeEdit && s.refuseBlocked(ctx, f) {
		return
	}
	msg, err := s.lookup(ctx, f.RoomID, f.MessageID, f.Seq)
	if errors.Is(err, errNoMessage) {
		s.sendError(f.ID, livev1.CodeNotFound, "no such message in this room")
		return
	}
	if err != nil {
		s.unavailable(f.ID, err)
		return
	}
	mine := msg.UserID == id.UserID
	if msg.Deleted || msg.Hidden || !(mine || (f.Type == livev1.TypeDelete && id.IsModerator())) {
		s.sendError(f.ID, livev1.CodeForbidden, "you can only change your own, visible messages")
		return
	}
	now := time.Now().UTC()
	var (
		ev    event.Event
		files []string // of a deleted message
	)
	frameType := livev1.TypeEdited
	var change func(m *eventsv1.Message)
	if f.Type == livev1.TypeEdit {
		change = func(m *eventsv1.Message) { m.Text, m.EditedAt = f.Text, now }
		ev = s.event(ctx, eventsv1.TypeMessageEdited, uuid.NewString(), f.RoomID,
			eventsv1.MessageEdited{MessageID: msg.ID, RoomID: f.RoomID, UserID: id.UserID, Text: f.Text, EditedAt: now})
	} else {
		// Nothing of a deleted message is shown: its reactions and files
		// neither (the files leave the store once the delete is logged).
		for _, a := range msg.Attachments {
			files = append(files, a.ID)
		}
		change = func(m *eventsv1.Message) { m.Text, m.Deleted, m.Reactions, m.Attachments = "", true, nil, nil }
		frameType = livev1.TypeDeleted
		ev = s.event(ctx, eventsv1.TypeMessageDeleted, uuid.NewString(), f.RoomID,
			eventsv1.MessageDeleted{MessageID: msg.ID, RoomID: f.RoomID, UserID: id.UserID, DeletedAt: now})
	}
	if err := s.srv.log.Append(ctx, ev); err != nil {
		s.unavailable(f.ID, err)
		return
	}
	bg := context.WithoutCancel(ctx)
	if len(files) > 0 && s.srv.files != nil {
		// After the log has the delete: a failure here leaves files no
		// message shows, never a message whose files are gone.
		if err := s.srv.files.Remove(bg, f.RoomID, files); err != nil {
			s.srv.logger.Warn("removing a deleted message's files", "room", f.RoomID, "message_id", msg.ID, "error", err)
		}
	}
	// The window's copy is changed as it stands, not replaced by the copy
	// read above: a reaction or a reply counted meanwhile stays, and the
	// room is shown that copy.
	change(&msg)
	err = livev1.RewriteInWindow(bg, s.srv.rdb, msg.RoomID, msg.Seq, msg.ID, func(held *eventsv1.Message) (bool, error) {
		change(held)
		msg = *held
		return true, nil
	})
	if err != nil {
		s.srv.logger.Warn("history window update", "room", f.RoomID, "error", err)
	}
	raw, _ := json.Marshal(msg)
	frame, _ := json.Marshal(livev1.MessageFrame{Type: frameType, RoomID: f.RoomID, Message: raw})
	s.srv.hub.Publish(bg, f.RoomID, livev1.EphemeralEnvelope(frame))
	s.reply(livev1.AckFrame{Type: livev1.TypeAck, ID: f.ID, MessageID: msg.ID, Seq: msg.Seq})
}

var errNoMessage = errors.New("no such message")

// lookup finds a message in the history window, else in persist.
func (s *session) lookup(ctx context.Context, roomID, messageID string, seq int64) (eventsv1.Message, error) {
	var m eventsv1.Message
	vals, err := s.srv.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: livev1.HistoryKey(roomID),
		ByScore: true, Start: seq, Stop: seq}).Result()
	if err == nil && len(vals) == 1 {
		if json.Unmarshal([]byte(vals[0]), &m) == nil && m.ID == messageID {
			return m, nil
		}
	}
	resp, err := s.srv.history.GetMessage(ctx, &persistv1.GetMessageRequest{RoomId: roomID, MessageId: messageID})
	if status.Code(err) == codes.NotFound {
		return m, errNoMessage
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(resp.Message, &m)
}
