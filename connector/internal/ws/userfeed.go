package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// userFeed subscribes this connector to the channels of the users it has
// sockets for, and forwards what arrives to those sockets.
type userFeed struct {
	ps      *redis.PubSub
	members Members

	mu       sync.Mutex
	sessions map[string]map[*session]struct{} // user -> sockets
}

func newUserFeed(rdb *redis.Client, members Members) *userFeed {
	return &userFeed{ps: rdb.Subscribe(context.Background()), members: members, sessions: map[string]map[*session]struct{}{}}
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
			u.forward(user, []byte(msg.Payload))
		}
	}
}

// membershipPrefix starts every membership frame (its first field is type).
var membershipPrefix = []byte(`{"type":"` + eventsv1.FrameMembership + `"`)

// forward passes a frame to the user's sockets here. A membership change
// is acted on first: the cached membership is forgotten, and a room left
// is stopped on every socket before the client hears of it.
func (u *userFeed) forward(user string, frame []byte) {
	leftRoom := ""
	var change eventsv1.MembershipFrame
	if bytes.HasPrefix(frame, membershipPrefix) && json.Unmarshal(frame, &change) == nil && change.UserID == user {
		u.members.Forget(change.RoomID, user)
		if change.State == eventsv1.MembershipLeft {
			leftRoom = change.RoomID
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for s := range u.sessions[user] {
		if leftRoom != "" {
			s.roomLeft(leftRoom, frame)
		} else {
			s.enqueue(frame)
		}
	}
}
