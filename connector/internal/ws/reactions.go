package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// react adds or removes the sender's reaction to a visible message of a
// room they are in. It costs a send of the user's send rate, since it is
// an event in the room's log like a send. Only what the connector must
// check is here: the reaction is kept by persist, from the event
// (parley.message.reacted), which comes first; the room is told next, then
// the sender.
func (s *session) react(ctx context.Context, f livev1.Frame) {
	id := s.identity()
	if !s.srv.sendRate.Allow(id.UserID) {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeRateLimited,
			Message: "reacting too fast", RetryAfterMS: 200})
		return
	}
	if _, ok := s.member(ctx, f, f.RoomID); !ok || s.refuseBlocked(ctx, f) {
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
	if msg.Deleted || msg.Hidden {
		s.sendError(f.ID, livev1.CodeForbidden, "you can only react to visible messages")
		return
	}
	if _, _, err := eventsv1.ApplyReaction(msg.Reactions, f.Emoji, id.UserID, f.Op); err != nil {
		s.sendError(f.ID, livev1.CodeReactionLimit, err.Error())
		return
	}
	// The event goes even when the message seems to hold the reaction
	// already (or not to hold one being removed): the window is a copy,
	// persist's store is what counts, and applying the event there twice
	// changes nothing.
	r := eventsv1.MessageReacted{MessageID: msg.ID, RoomID: f.RoomID, Seq: msg.Seq, UserID: id.UserID,
		Emoji: f.Emoji, Op: f.Op, At: time.Now().UTC()}
	if err := s.srv.log.Append(ctx, s.event(ctx, eventsv1.TypeMessageReacted, uuid.NewString(), f.RoomID, r)); err != nil {
		s.unavailable(f.ID, err)
		return
	}
	bg := context.WithoutCancel(ctx)
	if err := reactInWindow(bg, s.srv.rdb, r); err != nil {
		// persist rewrites the entry once it has stored the reaction.
		s.srv.logger.Warn("history window update", "room", f.RoomID, "error", err)
	}
	frame, _ := json.Marshal(livev1.ReactedFrame{Type: livev1.TypeReacted, RoomID: f.RoomID, MessageID: msg.ID, Seq: msg.Seq,
		Emoji: f.Emoji, UserID: id.UserID, Op: f.Op})
	s.srv.hub.Publish(bg, f.RoomID, livev1.EphemeralEnvelope(frame))
	s.reply(livev1.AckFrame{Type: livev1.TypeAck, ID: f.ID, MessageID: msg.ID, Seq: msg.Seq})
}

// reactInWindow applies a reaction to the message's entry in the room's
// history window, if the window holds it. Members react at the same time
// (that is what reactions are for), so the entry is read, changed and
// swapped back only if it is still what was read (livev1.RewriteInWindow):
// a blind replace would drop a reaction written in between.
func reactInWindow(ctx context.Context, rdb redis.UniversalClient, r eventsv1.MessageReacted) error {
	err := livev1.RewriteInWindow(ctx, rdb, r.RoomID, r.Seq, r.MessageID, func(m *eventsv1.Message) (bool, error) {
		rs, changed, err := eventsv1.ApplyReaction(m.Reactions, r.Emoji, r.UserID, r.Op)
		if err != nil || !changed {
			return false, nil // a limit reached meanwhile: persist's store decides
		}
		m.Reactions = rs
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("reaction to %s: %w", r.MessageID, err)
	}
	return nil
}
