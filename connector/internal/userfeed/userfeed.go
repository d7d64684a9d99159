// Package userfeed forwards personal frames (notifications, membership
// changes) from Redis to the sockets of their user on this connector.
//
// A Feed subscribes to the channel of each user it has sockets for, and
// nothing else: a membership change is published on its user's channel,
// so a connector hears only of its own users' changes. It owns its Redis
// pub/sub connections: New opens nothing, the first subscription does,
// and Close (or Run returning) closes them.
package userfeed

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/shardsub"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Sink is a user's socket. Neither method may block.
type Sink interface {
	// Enqueue passes a frame on to the client.
	Enqueue(frame []byte)
	// RoomLeft stops a room the user left, then passes the frame on.
	RoomLeft(roomID string, frame []byte)
}

// Members is the membership cache, told of every change heard of, and of
// when this connector starts or stops hearing of a user's changes.
type Members interface {
	Forget(roomID, userID string)
	ForgetUser(userID string)
}

// Feed is safe for concurrent use.
type Feed struct {
	ps      *shardsub.Sub
	members Members

	mu    sync.Mutex
	sinks map[string]map[Sink]struct{} // user -> sockets
}

// New returns a feed on rdb. Run must be running for frames to arrive.
func New(rdb redis.UniversalClient, members Members, log *slog.Logger) *Feed {
	return &Feed{ps: shardsub.New(rdb, 100, log), members: members, sinks: map[string]map[Sink]struct{}{}}
}

// Add subscribes to user's channel for s.
func (u *Feed) Add(ctx context.Context, user string, s Sink) error {
	u.mu.Lock()
	first := u.sinks[user] == nil
	if first {
		u.sinks[user] = map[Sink]struct{}{}
	}
	u.sinks[user][s] = struct{}{}
	u.mu.Unlock()
	if first {
		return u.ps.Subscribe(ctx, livev1.UserChannel(user))
	}
	return nil
}

// Remove forgets s, unsubscribing from user's channel after their last
// socket; what the cache holds about them goes too, since their changes
// are no longer heard here.
func (u *Feed) Remove(user string, s Sink) {
	u.mu.Lock()
	delete(u.sinks[user], s)
	last := len(u.sinks[user]) == 0
	if last {
		delete(u.sinks, user)
	}
	u.mu.Unlock()
	if last {
		u.ps.Unsubscribe(context.Background(), livev1.UserChannel(user))
		u.members.ForgetUser(user)
	}
}

// Close closes the Redis subscription; safe to call more than once, and
// without Run.
func (u *Feed) Close() error { return u.ps.Close() }

// Run forwards frames until ctx ends, then closes the subscription.
func (u *Feed) Run(ctx context.Context) {
	// Closing the subscription closes its channel, which ends the loop.
	defer context.AfterFunc(ctx, func() { u.Close() })()
	for m := range u.ps.Channel() {
		switch m := m.(type) {
		case *redis.Message:
			u.forward(m)
		case *redis.Subscription:
			// Subscribed, first or again after a reconnect or a slot move:
			// changes made before were not heard here, so answers cached
			// meanwhile may be stale.
			if user, ok := livev1.UserOfChannel(m.Channel); ok && m.Kind == "ssubscribe" {
				u.members.ForgetUser(user)
			}
		}
	}
}

// forward passes a frame from Redis to the sockets it is for.
func (u *Feed) forward(msg *redis.Message) {
	user, ok := livev1.UserOfChannel(msg.Channel)
	if !ok {
		return
	}
	frame := []byte(msg.Payload)
	if livev1.IsMembership(frame) {
		u.membershipChanged(user, frame)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for s := range u.sinks[user] {
		s.Enqueue(frame)
	}
}

// membershipChanged forgets the cached membership, then passes the frame
// to the user's sockets here; a room left is stopped on each of them
// before the client hears of it. A frame about someone else than the
// channel's user is dropped: it would reach the wrong sockets.
func (u *Feed) membershipChanged(user string, frame []byte) {
	var change livev1.MembershipFrame
	if err := json.Unmarshal(frame, &change); err != nil || change.RoomID == "" || change.UserID != user {
		return
	}
	u.members.Forget(change.RoomID, change.UserID)
	if change.State == livev1.MembershipChanged {
		return // for the caches only: a block is not told to the one blocked
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for s := range u.sinks[change.UserID] {
		if change.State == livev1.MembershipLeft {
			s.RoomLeft(change.RoomID, frame)
		} else {
			s.Enqueue(frame)
		}
	}
}
