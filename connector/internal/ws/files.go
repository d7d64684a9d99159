package ws

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/parley-chat/parley/connector/internal/files"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// attachments reads what a send attaches from the store: each a finished
// upload by the sender to this room, within the file limits. Nothing the
// client says about a file is taken; a refusal answers the frame and
// nothing is stored.
func (s *session) attachments(ctx context.Context, f livev1.Frame, userID string) ([]eventsv1.Attachment, bool) {
	if len(f.Attachments) == 0 {
		return nil, true
	}
	if s.srv.files == nil {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeFileRefused,
			Message: "file sharing is not configured on this server", RoomID: f.RoomID})
		return nil, false
	}
	refused := func(err error) bool {
		if errors.Is(err, files.ErrRefused) {
			s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeFileRefused,
				Message: strings.TrimPrefix(err.Error(), files.ErrRefused.Error()+": "), RoomID: f.RoomID})
		} else if err != nil {
			s.unavailable(f.ID, err)
		}
		return err != nil
	}
	out := make([]eventsv1.Attachment, 0, len(f.Attachments))
	for _, id := range f.Attachments {
		a, err := s.srv.files.Attach(ctx, f.RoomID, userID, id)
		if refused(err) {
			return nil, false
		}
		out = append(out, a)
	}
	// Last, once nothing else can refuse the send: its uploads stop
	// waiting for a message, so the sweep never takes them.
	if refused(s.srv.files.Claim(ctx, f.RoomID, f.Attachments)) {
		return nil, false
	}
	return out, true
}

// announceImages tells the Broker of a durable message's images, one
// parley.file.uploaded each, for their thumbnails. The message is already
// acked-safe: a failure here costs a thumbnail, not the message, so it is
// logged, not answered.
func (s *session) announceImages(ctx context.Context, msg eventsv1.Message) {
	for _, a := range msg.Attachments {
		if !eventsv1.Image(a.ContentType) {
			continue
		}
		data := eventsv1.FileUploaded{RoomID: msg.RoomID, MessageID: msg.ID, Seq: msg.Seq, UserID: msg.UserID,
			File: a, At: time.Now().UTC()}
		if err := s.srv.log.Append(ctx, s.event(ctx, eventsv1.TypeFileUploaded, a.ID, msg.RoomID, data)); err != nil {
			s.srv.logger.Warn("an image will have no thumbnail", "room", msg.RoomID, "file", a.ID, "error", err)
		}
	}
}
