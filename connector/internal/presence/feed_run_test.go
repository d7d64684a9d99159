package presence

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Redis, &stack))
}

// recording is a socket that records the presence frames it is given.
type recording struct{ got chan string }

func (r *recording) Enqueue(frame []byte) {
	var p struct {
		UserID string `json:"user_id"`
		Status string `json:"status"`
	}
	json.Unmarshal(frame, &p)
	r.got <- p.UserID + " " + p.Status
}

func (r *recording) next(t *testing.T) string {
	t.Helper()
	select {
	case v := <-r.got:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no presence frame within 5s")
		return ""
	}
}

// runFeed runs a feed of a new tracker until the test ends.
func runFeed(t *testing.T, sweep time.Duration) (redis.UniversalClient, *Tracker, *Feed) {
	t.Helper()
	rdb := redistest.Client(t, stack.RedisURL, "")
	tracker := New(rdb, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	feed := NewFeed(tracker)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); feed.Run(ctx, sweep) }()
	t.Cleanup(func() { cancel(); <-done })
	return rdb, tracker, feed
}

// A watched user's changes reach the socket as they are published (no
// sweep runs here), and an unwatched user's do not.
func TestFeedPushesWatchedUsersChanges(t *testing.T) {
	rdb, tracker, feed := runFeed(t, time.Hour)
	sock := &recording{got: make(chan string, 16)}
	ctx := context.Background()
	ada := fresh("ada")
	feed.Watch(ctx, sock, []string{ada})
	if got := sock.next(t); got != ada+" offline" {
		t.Fatalf("the watch gave %q, want ada as she stands", got)
	}
	redistest.Subscribers(t, rdb, livev1.PresenceChannel(ada), 1)
	tracker.Set(ctx, "bob", "s0", Online)
	tracker.Set(ctx, ada, "s1", Online)
	if got := sock.next(t); got != ada+" online" {
		t.Fatalf("got %q, want ada online (and nothing of bob)", got)
	}
	tracker.Set(ctx, ada, "s1", Away)
	if got := sock.next(t); got != ada+" away" {
		t.Fatalf("got %q, want ada away", got)
	}
}

// fresh is a user of this test run alone: the Redis of the tests keeps
// sessions for their TTL.
func fresh(name string) string { return name + "-" + uuid.NewString() }

// A session that vanished without a word (its connector crashed and
// published nothing) is noticed by the sweep.
func TestFeedSweepFindsSessionsThatVanished(t *testing.T) {
	rdb, tracker, feed := runFeed(t, 20*time.Millisecond)
	sock := &recording{got: make(chan string, 16)}
	feed.Watch(context.Background(), sock, []string{"cyd"})
	if got := sock.next(t); got != "cyd offline" {
		t.Fatalf("the watch gave %q, want cyd as she stands", got)
	}
	ctx := context.Background()
	tracker.Set(ctx, "cyd", "s2", Online)
	if got := sock.next(t); got != "cyd online" {
		t.Fatalf("got %q, want cyd online", got)
	}
	if err := rdb.Del(ctx, livev1.PresenceKey("cyd")).Err(); err != nil {
		t.Fatal(err)
	}
	if got := sock.next(t); got != "cyd offline" {
		t.Fatalf("got %q, want the sweep to find cyd offline", got)
	}
}

// A watch gives the socket the statuses as they stand, and the sweeps after
// it give nothing more until a status changes.
func TestFeedSweepDoesNotRepeatWhatTheWatchGave(t *testing.T) {
	sweeps, stop := make(chan struct{}), make(chan struct{})
	swept = func() { // each sweep waits until the test has seen it, until released
		select {
		case sweeps <- struct{}{}:
		case <-stop:
		}
	}
	t.Cleanup(func() { swept = nil })
	_, tracker, feed := runFeed(t, time.Millisecond)
	release := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(release) // before the feed's own cleanup stops it
	sock := &recording{got: make(chan string, 16)}
	ctx := context.Background()
	dee := fresh("dee")
	feed.Watch(ctx, sock, []string{dee})
	if got := sock.next(t); got != dee+" offline" {
		t.Fatalf("the watch gave %q, want dee as she stands", got)
	}
	<-sweeps // one that may have begun before the watch
	<-sweeps // one that began after it
	release()
	tracker.Set(ctx, dee, "s3", Online)
	if got := sock.next(t); got != dee+" online" {
		t.Fatalf("after the watch came %q, want only dee's change to online", got)
	}
}
