package presence

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/connector/internal/redistest"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

type sink struct{ name string }

func (*sink) Enqueue([]byte) {}

// A socket's watch frame replaces what it watched, and its close forgets
// it, touching only the users it watched; the feed is subscribed to the
// channels of exactly the users someone watches.
func TestWatchReplacesAndCloseForgetsOnlyThatSocketsUsers(t *testing.T) {
	rdb := redistest.Client(t, stack.RedisURL, "")
	f := NewFeed(New(rdb, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer f.Close()
	a, b := &sink{"a"}, &sink{"b"}
	subscribed := func(want map[string]int64) {
		t.Helper()
		for user, n := range want {
			redistest.Subscribers(t, rdb, livev1.PresenceChannel(user), n)
		}
	}
	ctx := context.Background()
	f.Watch(ctx, a, []string{"ada", "bob"})
	f.Watch(ctx, b, []string{"bob"})
	subscribed(map[string]int64{"ada": 1, "bob": 1})
	f.Watch(ctx, a, []string{"bob", "cyd"})
	watched := func() []string { return slices.Sorted(maps.Keys(f.watchers)) }
	if got := watched(); !slices.Equal(got, []string{"bob", "cyd"}) || len(f.watchers["bob"]) != 2 {
		t.Fatalf("watched %v, bob by %d sockets", got, len(f.watchers["bob"]))
	}
	subscribed(map[string]int64{"ada": 0, "bob": 1, "cyd": 1})
	f.Unwatch(a)
	if got := watched(); !slices.Equal(got, []string{"bob"}) || len(f.watchers["bob"]) != 1 {
		t.Fatalf("after a closed: watched %v", got)
	}
	if _, ok := f.watchers["bob"][b]; !ok {
		t.Fatal("b's watch of bob went with a's")
	}
	subscribed(map[string]int64{"bob": 1, "cyd": 0})
	f.Unwatch(b)
	subscribed(map[string]int64{"bob": 0})
	if len(f.last) != 0 {
		t.Fatalf("the feed still keeps what it gave watchers of %v, watched by no one", slices.Collect(maps.Keys(f.last)))
	}
}
