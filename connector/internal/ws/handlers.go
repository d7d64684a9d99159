package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/parley-chat/parley/connector/internal/hub"
	"github.com/parley-chat/parley/connector/internal/protocol"
	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// callTimeout bounds one dependency call made for a frame.
const callTimeout = 5 * time.Second

func (s *session) handle(ctx context.Context, f protocol.Frame) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	switch f.Type {
	case protocol.TypeAuth:
		s.authenticate(ctx, f.ID, f.Token)
	case protocol.TypeSubscribe:
		s.subscribe(ctx, f)
	case protocol.TypeUnsubscribe:
		s.leaveRoom(f.RoomID)
	case protocol.TypeSend:
		s.send(ctx, f)
	case protocol.TypeEdit, protocol.TypeDelete:
		s.change(ctx, f)
	case protocol.TypeTyping:
		s.typing(ctx, f)
	case protocol.TypePresence:
		if err := s.srv.presence.Set(ctx, s.identity().UserID, s.id, f.Status); err != nil {
			s.unavailable(f.ID, err)
		}
	case protocol.TypeWatch:
		s.srv.watchers.Watch(s, f.UserIDs)
		for user, st := range s.srv.presence.Statuses(ctx, f.UserIDs) {
			s.reply(protocol.Presence(user, st))
		}
	case protocol.TypeRead:
		s.read(ctx, f)
	case protocol.TypeHistory:
		s.historyPage(ctx, f)
	}
}

// member checks membership and answers not_a_member itself.
func (s *session) member(ctx context.Context, f protocol.Frame, roomID string) (string, bool) {
	role, err := s.srv.members.Role(ctx, roomID, s.identity().UserID)
	if err != nil {
		s.unavailable(f.ID, err)
		return "", false
	}
	if role == "" {
		s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: f.ID, Code: protocol.CodeNotMember,
			Message: "you are not a member of this room", RoomID: roomID})
		return "", false
	}
	return role, true
}

func (s *session) unavailable(id string, err error) { s.unavailableIn(id, "", err) }

// unavailableIn names the room when a frame (subscribe) covers several.
func (s *session) unavailableIn(id, roomID string, err error) {
	s.srv.logger.Warn("frame failed on a dependency", "error", err)
	s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: id, Code: protocol.CodeUnavailable,
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

func (s *session) typing(ctx context.Context, f protocol.Frame) {
	id := s.identity()
	if _, ok := s.member(ctx, f, f.RoomID); !ok {
		return
	}
	frame, _ := json.Marshal(protocol.TypingFrame{Type: protocol.TypeTyping, RoomID: f.RoomID,
		UserID: id.UserID, Username: id.Username, State: f.State})
	if err := s.srv.hub.Publish(ctx, f.RoomID, hub.EphemeralEnvelope(frame)); err != nil {
		s.unavailable(f.ID, err)
	}
}
