package presence

import (
	"context"
	"encoding/json"
	"iter"
	"maps"
	"slices"
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
// Changes are published on each user's channel when sessions come and go,
// and the feed subscribes to the channels of the users its sockets watch,
// so a connector hears only of those. A connector that crashed publishes
// nothing, so every sweep the statuses of watched users are read again and
// changes (expired sessions) pushed too. Safe for concurrent use.
type Feed struct {
	tracker *Tracker
	// sub holds the watched users' channels: it opens its connections with
	// the first watch, and Close or Run's return closes them.
	sub *shardsub.Sub

	mu       sync.Mutex
	watchers map[string]map[Sink]struct{} // user -> sinks watching
	// watching is each sink's watched users, so its close or next watch
	// touches only their entries in watchers.
	watching map[Sink][]string
	// last is what the watchers of each watched user were last given, so
	// the sweep and the channel push only what changed.
	last map[string]given
}

// given is the status the watchers of a user were last given, and how
// many times they have been given one.
type given struct {
	status string
	pushes uint64
}

// NewFeed returns a feed of the statuses t tracks. It opens no connection
// until a socket watches someone.
func NewFeed(t *Tracker) *Feed {
	return &Feed{tracker: t, sub: shardsub.New(t.rdb, 1024, t.log),
		watchers: map[string]map[Sink]struct{}{}, watching: map[Sink][]string{}, last: map[string]given{}}
}

// Watch makes users the ones s watches, replacing what it watched, and
// gives s their statuses as they stand. A user's status read here counts
// as given, so the next sweep does not give it again; but should a change
// reach s while the statuses are read, s keeps that newer one.
func (f *Feed) Watch(ctx context.Context, s Sink, users []string) {
	users = slices.Compact(slices.Sorted(slices.Values(users))) // one frame a user
	f.mu.Lock()
	f.watchLocked(s, users)
	before := make([]uint64, len(users))
	for i, u := range users {
		before[i] = f.last[u].pushes
	}
	f.mu.Unlock()
	statuses := f.tracker.Statuses(ctx, users)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, u := range users {
		if f.last[u].pushes != before[i] {
			continue // a change reached s meanwhile
		}
		if _, ok := f.last[u]; !ok && len(f.watchers[u]) == 1 {
			// s alone watches u: what it is given is what u's watchers have.
			f.last[u] = given{status: statuses[u]}
		}
		frame, _ := json.Marshal(livev1.Presence(u, statuses[u]))
		s.Enqueue(frame)
	}
}

func (f *Feed) watchLocked(s Sink, users []string) {
	gone := f.unwatchLocked(s)
	var added []string
	for _, u := range users {
		if f.watchers[u] == nil {
			f.watchers[u] = map[Sink]struct{}{}
			if gone[u] {
				delete(gone, u) // still watched: stay subscribed
			} else {
				added = append(added, u)
			}
		}
		f.watchers[u][s] = struct{}{}
	}
	if len(users) > 0 {
		f.watching[s] = users
	}
	f.resubscribe(gone, added)
}

// Unwatch forgets s, when its socket closes.
func (f *Feed) Unwatch(s Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resubscribe(f.unwatchLocked(s), nil)
}

// unwatchLocked forgets what s watches and returns the users nobody
// watches any more.
func (f *Feed) unwatchLocked(s Sink) map[string]bool {
	var gone map[string]bool // most closing sockets watched nobody: no map
	for _, u := range f.watching[s] {
		if w := f.watchers[u]; w != nil {
			delete(w, s)
			if len(w) == 0 {
				delete(f.watchers, u)
				if gone == nil {
					gone = map[string]bool{}
				}
				gone[u] = true
			}
		}
	}
	delete(f.watching, s)
	return gone
}

// resubscribe leaves the channels of users nobody watches and joins the
// newly watched ones'. It runs under f.mu, so the commands of a user
// watched and unwatched at once go out in that order. A failure is logged:
// the subscription is kept and go-redis makes it again on reconnecting,
// and until then the sweep finds the user's changes.
func (f *Feed) resubscribe(gone map[string]bool, added []string) {
	for u := range gone {
		delete(f.last, u)
	}
	if err := onChannels(maps.Keys(gone), f.sub.Unsubscribe); err != nil {
		f.tracker.log.Warn("presence: unsubscribing", "error", err)
	}
	if err := onChannels(slices.Values(added), f.sub.Subscribe); err != nil {
		f.tracker.log.Warn("presence: subscribing", "error", err)
	}
}

// onChannels calls op with the presence channels of users, if there are any.
func onChannels(users iter.Seq[string], op func(context.Context, ...string) error) error {
	var channels []string
	for u := range users {
		channels = append(channels, livev1.PresenceChannel(u))
	}
	if len(channels) == 0 {
		return nil
	}
	return op(context.Background(), channels...)
}

// Close closes the feed's subscriptions; safe to call more than once, and
// without Run.
func (f *Feed) Close() error { return f.sub.Close() }

// Run forwards changes until ctx ends, reading the watched users' statuses
// again every sweep. The feed's subscriptions are closed when it returns.
func (f *Feed) Run(ctx context.Context, sweep time.Duration) {
	defer f.Close()
	ch := f.sub.Channel()
	tick := time.NewTicker(sweep)
	defer tick.Stop()
	push := func(user, status string, frame []byte) {
		f.mu.Lock()
		defer f.mu.Unlock()
		last, ok := f.last[user]
		if ok && last.status == status || f.watchers[user] == nil {
			return
		}
		f.last[user] = given{status: status, pushes: last.pushes + 1}
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
			if u, ok := livev1.UserOfPresenceChannel(msg.Channel); !ok || u != user {
				continue // a frame about someone else than its channel's user
			}
			push(user, status, []byte(msg.Payload))
		case <-tick.C:
			f.mu.Lock()
			users := slices.Collect(maps.Keys(f.watchers))
			f.mu.Unlock()
			for u, st := range f.tracker.Statuses(ctx, users) {
				frame, _ := json.Marshal(livev1.Presence(u, st))
				push(u, st, frame)
			}
			if swept != nil {
				swept()
			}
		}
	}
}

// swept, when set (by tests), runs after each sweep.
var swept func()

// parseChange reads a frame published on a livev1.PresenceChannel.
func parseChange(payload string) (user, status string) {
	var p struct {
		UserID string `json:"user_id"`
		Status string `json:"status"`
	}
	json.Unmarshal([]byte(payload), &p)
	return p.UserID, p.Status
}
