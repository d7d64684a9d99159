package ws

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// userFeed subscribes this connector to the channels of the users it has
// sockets for, and forwards what arrives to those sockets.
type userFeed struct {
	ps *redis.PubSub

	mu       sync.Mutex
	sessions map[string]map[*session]struct{} // user -> sockets
}

func newUserFeed(rdb *redis.Client) *userFeed {
	return &userFeed{ps: rdb.Subscribe(context.Background()), sessions: map[string]map[*session]struct{}{}}
}

func (u *userFeed) add(ctx context.Context, user string, s *session) error {
	u.mu.Lock()
	first := u.sessions[user] == nil
	if first {
		u.sessions[user] = map[*session]struct{}{}
	}
	u.sessions[user][s] = struct{}{}
	u.mu.Unlock()
	if first {
		return u.ps.Subscribe(ctx, eventsv1.UserChannel(user))
	}
	return nil
}

func (u *userFeed) remove(user string, s *session) {
	u.mu.Lock()
	delete(u.sessions[user], s)
	last := len(u.sessions[user]) == 0
	if last {
		delete(u.sessions, user)
	}
	u.mu.Unlock()
	if last {
		u.ps.Unsubscribe(context.Background(), eventsv1.UserChannel(user))
	}
}

func (u *userFeed) run(ctx context.Context) {
	ch := u.ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			user := strings.TrimSuffix(strings.TrimPrefix(msg.Channel, "user:{"), "}")
			frame := []byte(msg.Payload)
			u.mu.Lock()
			for s := range u.sessions[user] {
				s.enqueue(frame)
			}
			u.mu.Unlock()
		}
	}
}
