package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// callTimeout bounds one dependency call made for a frame.
const callTimeout = 5 * time.Second

func (s *session) handle(ctx context.Context, f livev1.Frame) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	switch f.Type {
	case livev1.TypeAuth:
		s.authenticate(ctx, f.ID, f.Token)
	case livev1.TypeSubscribe:
		s.subscribe(ctx, f)
	case livev1.TypeUnsubscribe:
		s.leaveRoom(f.RoomID)
	case livev1.TypeSend:
		s.send(ctx, f)
	case livev1.TypeEdit, livev1.TypeDelete:
		s.change(ctx, f)
	case livev1.TypeReact:
		s.react(ctx, f)
	case livev1.TypeTyping:
		s.typing(ctx, f)
	case livev1.TypePresence:
		if err := s.srv.presence.Set(ctx, s.identity().UserID, s.id, f.Status); err != nil {
			s.unavailable(f.ID, err)
		}
	case livev1.TypeWatch:
		s.srv.watchers.Watch(ctx, s, f.UserIDs)
	case livev1.TypeRead:
		s.read(ctx, f)
	case livev1.TypeHistory:
		s.historyPage(ctx, f)
	}
}

// member checks membership and answers not_a_member itself.
func (s *session) member(ctx context.Context, f livev1.Frame, roomID string) (string, bool) {
	role, err := s.srv.members.Role(ctx, roomID, s.identity().UserID)
	if err != nil {
		s.unavailable(f.ID, err)
		return "", false
	}
	if role == "" {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeNotMember,
			Message: "you are not a member of this room", RoomID: roomID})
		return "", false
	}
	return role, true
}

// refuseBlocked answers blocked, and reports true, when the room is a 1:1
// room whose other member blocked the user: nothing they send, edit, react
// or type there reaches the one who blocked them. It reads the same cached
// answer as the membership check before it: no second call to auth.
func (s *session) refuseBlocked(ctx context.Context, f livev1.Frame) bool {
	blocked, err := s.srv.members.Blocked(ctx, f.RoomID, s.identity().UserID)
	if err != nil {
		s.unavailable(f.ID, err)
		return true
	}
	if blocked {
		s.tellBlocked(f)
	}
	return blocked
}

// blockedSender is the claim script's answer for a sender the room's
// livev1.BlockedKey holds.
const blockedSender = -2

func (s *session) tellBlocked(f livev1.Frame) {
	s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeBlocked,
		Message: "the other person has blocked you", RoomID: f.RoomID})
}

func (s *session) unavailable(id string, err error) { s.unavailableIn(id, "", err) }

// unavailableIn names the room when a frame (subscribe) covers several.
func (s *session) unavailableIn(id, roomID string, err error) {
	s.srv.logger.Warn("frame failed on a dependency", "error", err)
	s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: id, Code: livev1.CodeUnavailable,
		Message: "temporarily unavailable: retry", RoomID: roomID, RetryAfterMS: 1000})
}

// event builds a CloudEvent keyed by room, so a room's events stay in
// order, carrying ctx's trace so the message is one trace from socket to storage.
func (s *session) event(ctx context.Context, typ, id, roomID string, data any) event.Event {
	// data is one of eventsv1's payloads, which always encode.
	e, _ := eventsv1.New(id, typ, eventsv1.SourceConnector+s.srv.cfg.ConnectorID, roomID, time.Now().UTC(), data)
	ksvc.InjectTrace(ctx, &e)
	return e
}

// typingRate and typingBurst bound a user's typing frames per second:
// beyond them a frame is dropped, as a late typing notice would be.
const (
	typingRate  = 2
	typingBurst = 5
)

func (s *session) typing(ctx context.Context, f livev1.Frame) {
	id := s.identity()
	if !s.srv.typingRate.Allow(id.UserID) {
		return
	}
	if _, ok := s.member(ctx, f, f.RoomID); !ok || s.refuseBlocked(ctx, f) {
		return
	}
	frame, _ := json.Marshal(livev1.TypingFrame{Type: livev1.TypeTyping, RoomID: f.RoomID,
		UserID: id.UserID, Username: id.Username, State: f.State})
	if err := s.srv.hub.Publish(ctx, f.RoomID, livev1.EphemeralEnvelope(frame)); err != nil {
		s.unavailable(f.ID, err)
	}
}
