package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/parley-chat/parley/connector/internal/presence"
	"github.com/parley-chat/parley/connector/internal/protocol"
)

// RunPresence forwards presence changes to the sessions watching each
// user. Changes are published when sessions come and go; a connector that
// crashed publishes nothing, so every sweep interval the statuses of watched
// users are re-read and changes (expired sessions) pushed too.
func (s *Server) RunPresence(ctx context.Context, sweep time.Duration) {
	ps := s.rdb.Subscribe(ctx, presence.Channel)
	defer ps.Close()
	ch := ps.Channel()
	tick := time.NewTicker(sweep)
	defer tick.Stop()
	known := map[string]string{} // last status pushed per watched user
	push := func(user, status string, frame []byte) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if known[user] == status {
			return
		}
		known[user] = status
		for sess := range s.watchers[user] {
			sess.enqueue(frame)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			user, status := presenceUser(msg.Payload)
			push(user, status, []byte(msg.Payload))
		case <-tick.C:
			s.mu.Lock()
			users := make([]string, 0, len(s.watchers))
			for u := range s.watchers {
				users = append(users, u)
			}
			for u := range known {
				if _, watched := s.watchers[u]; !watched {
					delete(known, u)
				}
			}
			s.mu.Unlock()
			for u, st := range s.presence.Statuses(ctx, users) {
				frame, _ := json.Marshal(protocol.Presence(u, st))
				push(u, st, frame)
			}
		}
	}
}

func (s *Server) watch(sess *session, users []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unwatch(sess)
	for _, u := range users {
		if s.watchers[u] == nil {
			s.watchers[u] = map[*session]struct{}{}
		}
		s.watchers[u][sess] = struct{}{}
	}
	sess.watching = users
}

// unwatch removes sess from the watchers of the users it watches. Called
// with s.mu held.
func (s *Server) unwatch(sess *session) {
	for _, u := range sess.watching {
		if w := s.watchers[u]; w != nil {
			delete(w, sess)
			if len(w) == 0 {
				delete(s.watchers, u)
			}
		}
	}
	sess.watching = nil
}

func presenceUser(payload string) (user, status string) {
	var p struct {
		UserID string `json:"user_id"`
		Status string `json:"status"`
	}
	json.Unmarshal([]byte(payload), &p)
	return p.UserID, p.Status
}
