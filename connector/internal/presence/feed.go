package presence

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/shardsub"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Sink is a socket that watches users' presence. Enqueue must not block.
type Sink interface {
	Enqueue(frame []byte)
}

// Feed forwards presence changes to the sockets watching each user.
// Changes are published when sessions come and go; a connector that
// crashed publishes nothing, so every sweep the statuses of watched users
// are read again and changes (expired sessions) pushed too. Safe for
// concurrent use.
type Feed struct {
	tracker *Tracker

	mu       sync.Mutex
	watchers map[string]map[Sink]struct{} // user -> sinks watching
	// watching is each sink's watched users, so its close or next watch
	// touches only their entries in watchers.
	watching map[Sink][]string
}

// NewFeed returns a feed of the statuses t tracks. It opens no
// connection: Run holds the subscription while it runs.
func NewFeed(t *Tracker) *Feed {
	return &Feed{tracker: t, watchers: map[string]map[Sink]struct{}{}, watching: map[Sink][]string{}}
}

// Watch makes users the ones s watches, replacing what it watched.
func (f *Feed) Watch(s Sink, users []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unwatchLocked(s)
	for _, u := range users {
		if f.watchers[u] == nil {
			f.watchers[u] = map[Sink]struct{}{}
		}
		f.watchers[u][s] = struct{}{}
	}
	if len(users) > 0 {
		f.watching[s] = users
	}
}

// Unwatch forgets s, when its socket closes.
func (f *Feed) Unwatch(s Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unwatchLocked(s)
}

func (f *Feed) unwatchLocked(s Sink) {
	for _, u := range f.watching[s] {
		if w := f.watchers[u]; w != nil {
			delete(w, s)
			if len(w) == 0 {
				delete(f.watchers, u)
			}
		}
	}
	delete(f.watching, s)
}

// Run forwards changes until ctx ends, reading the watched users' statuses
// again every sweep. Its Redis subscription is closed when it returns.
func (f *Feed) Run(ctx context.Context, sweep time.Duration) {
	sub := shardsub.New(f.tracker.rdb, 100, f.tracker.log)
	defer sub.Close()
	// A failed subscribe is still recorded: go-redis subscribes again when
	// it reconnects.
	_ = sub.Subscribe(ctx, livev1.PresenceChannel)
	ch := sub.Channel()
	tick := time.NewTicker(sweep)
	defer tick.Stop()
	known := map[string]string{} // last status pushed per watched user
	push := func(user, status string, frame []byte) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if known[user] == status {
			return
		}
		known[user] = status
		for s := range f.watchers[user] {
			s.Enqueue(frame)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			msg, isMsg := m.(*redis.Message)
			if !isMsg {
				continue
			}
			user, status := parseChange(msg.Payload)
			push(user, status, []byte(msg.Payload))
		case <-tick.C:
			f.mu.Lock()
			users := make([]string, 0, len(f.watchers))
			for u := range f.watchers {
				users = append(users, u)
			}
			for u := range known {
				if _, watched := f.watchers[u]; !watched {
					delete(known, u)
				}
			}
			f.mu.Unlock()
			for u, st := range f.tracker.Statuses(ctx, users) {
				frame, _ := json.Marshal(livev1.Presence(u, st))
				push(u, st, frame)
			}
		}
	}
}

// parseChange reads a frame published on livev1.PresenceChannel.
func parseChange(payload string) (user, status string) {
	var p struct {
		UserID string `json:"user_id"`
		Status string `json:"status"`
	}
	json.Unmarshal([]byte(payload), &p)
	return p.UserID, p.Status
}
