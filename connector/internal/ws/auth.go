package ws

import (
	"context"
	"time"

	"github.com/parley-chat/parley/connector/internal/authn"
	"github.com/parley-chat/parley/connector/internal/presence"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

func (s *session) isAuthed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authed
}

func (s *session) identity() authn.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ident
}

// authenticate verifies token; a session may re-authenticate (same user)
// to extend its life past the first token's expiry.
func (s *session) authenticate(ctx context.Context, frameID, token string) bool {
	id, err := s.srv.verifier.Verify(ctx, token)
	if err != nil {
		s.sendError(frameID, livev1.CodeInvalidToken, "the access token is invalid or expired")
		s.close(livev1.CloseAuthFailed, "invalid or expired token")
		return false
	}
	s.mu.Lock()
	if s.authed && id.UserID != s.ident.UserID {
		s.mu.Unlock()
		s.sendError(frameID, livev1.CodeForbidden, "a session cannot change user")
		s.close(livev1.CloseForbidden, "a session cannot change user")
		return false
	}
	first := !s.authed
	s.mu.Unlock()
	if first && !s.admit(ctx, id.UserID) {
		s.sendError(frameID, livev1.CodeRateLimited, "too many connections for this user")
		s.close(livev1.ClosePolicyViolation, "too many connections for this user")
		return false
	}
	s.mu.Lock()
	s.ident, s.authed = id, true
	s.srv.expiries.set(s, id.Expires)
	s.mu.Unlock()
	// The first-frame deadline ends here; from now on RunPings checks that
	// the client answers pings.
	s.conn.SetReadDeadline(time.Time{})
	if first {
		if err := s.srv.users.Add(ctx, id.UserID, s); err != nil {
			s.srv.logger.Warn("user feed", "error", err)
		}
	}
	s.reply(livev1.ReadyFrame{Type: livev1.TypeReady, ID: frameID, UserID: id.UserID, Username: id.Username,
		SessionID: s.id, ConnectorID: s.srv.cfg.ConnectorID, ExpiresAt: id.Expires})
	return true
}

// admit counts a new socket of user against SocketsPerUser: on this
// connector first, which costs nothing, then on every connector together,
// in the user's presence (presence.Tracker.Admit), which also puts the
// socket online. A client could otherwise open the bound on each connector
// a load balancer gives it. Should Redis fail, the connector's own bound
// still holds and the socket is let in: presence is then what it lacks.
func (s *session) admit(ctx context.Context, user string) bool {
	if !s.srv.sockets.take(user) {
		return false
	}
	admitted, err := s.srv.presence.Admit(ctx, user, s.id, presence.Online, s.srv.cfg.SocketsPerUser)
	if err != nil {
		s.srv.logger.Warn("presence", "error", err)
		return true
	}
	if !admitted {
		s.srv.sockets.give(user)
	}
	return admitted
}
