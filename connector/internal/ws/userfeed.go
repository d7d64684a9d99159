package ws

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/redis/go-redis/v9"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// userFeed subscribes this connector to the channels of the users it has
// sockets for, and to MembershipChannel, and forwards what arrives to those
// sockets.
type userFeed struct {
	ps      *redis.PubSub
	members Members

	mu       sync.Mutex
	sessions map[string]map[*session]struct{} // user -> sockets
}

func newUserFeed(rdb *redis.Client, members Members) *userFeed {
	return &userFeed{ps: rdb.Subscribe(context.Background(), livev1.MembershipChannel), members: members,
		sessions: map[string]map[*session]struct{}{}}
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
		return u.ps.Subscribe(ctx, livev1.UserChannel(user))
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
		u.ps.Unsubscribe(context.Background(), livev1.UserChannel(user))
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
			if msg.Channel == livev1.MembershipChannel {
				u.membershipChanged([]byte(msg.Payload))
				continue
			}
			user, ok := livev1.UserOfChannel(msg.Channel)
			if !ok {
				continue
			}
			frame := []byte(msg.Payload)
			u.mu.Lock()
			for s := range u.sessions[user] {
				s.enqueue(frame)
			}
			u.mu.Unlock()
		}
	}
}

// membershipChanged forgets the cached membership (on every connector, so
// none outlives the change, whether or not the user is connected here),
// then passes the frame to the user's sockets here; a room left is stopped
// on each of them before the client hears of it.
func (u *userFeed) membershipChanged(frame []byte) {
	var change livev1.MembershipFrame
	if err := json.Unmarshal(frame, &change); err != nil || change.RoomID == "" || change.UserID == "" {
		return
	}
	u.members.Forget(change.RoomID, change.UserID)
	u.mu.Lock()
	defer u.mu.Unlock()
	for s := range u.sessions[change.UserID] {
		if change.State == livev1.MembershipLeft {
			s.roomLeft(change.RoomID, frame)
		} else {
			s.enqueue(frame)
		}
	}
}
