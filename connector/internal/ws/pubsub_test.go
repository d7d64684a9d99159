package ws

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/knative/stores"
)

// stayingSubscriber is a hub member that never leaves, so the hub's
// connection is still subscribed when its owner closes it: a connection
// left open would then still show as pub/sub in CLIENT LIST.
type stayingSubscriber struct{}

func (stayingSubscriber) Deliver(string, int64, []byte) {}
func (stayingSubscriber) Flush()                        {}
func (stayingSubscriber) Resync(string)                 {}

// pubsubConns counts the connections named name that Redis (every master
// of a cluster) has in pub/sub mode, or that last ran a pub/sub command
// (one that unsubscribed from everything is no longer flagged, but still
// open).
func pubsubConns(t *testing.T, admin redis.UniversalClient, name string) int {
	t.Helper()
	var (
		mu    sync.Mutex
		lists []string
	)
	list := func(ctx context.Context, c *redis.Client) error {
		l, err := c.ClientList(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		lists = append(lists, l)
		return err
	}
	if err := stores.ForEachMaster(context.Background(), admin, list); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.Join(lists, "\n"), "\n") {
		fields := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			fields[k] = v
		}
		if fields["name"] == name && (strings.Contains(fields["flags"], "P") || strings.HasSuffix(fields["cmd"], "subscribe")) {
			n++
		}
	}
	return n
}

// waitPubsubConns waits until Redis lists want pub/sub connections named
// name: a closed connection leaves CLIENT LIST once Redis has read the close.
func waitPubsubConns(t *testing.T, admin redis.UniversalClient, name string, want int) {
	t.Helper()
	redistest.Wait(t, func() (bool, string) {
		got := pubsubConns(t, admin, name)
		return got == want, fmt.Sprintf("%d pub/sub connections named %s, want %d", got, name, want)
	})
}

// Every pub/sub connection the hub and the socket server open (the hub's
// rooms, the user feed, the presence feed) is closed when they stop, and
// each of their constructors opens none: the connections are counted on
// the real Redis, before the client itself is closed (which would close
// them all).
func TestPubSubConnectionsAreClosedOnEveryPath(t *testing.T) {
	admin := redistest.Client(t, stack.RedisURL, "")

	t.Run("served then stopped as the connector stops", func(t *testing.T) {
		c := newConnector(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, run := range []func(context.Context){c.hub.Run, c.srv.RunUserFeed,
			func(ctx context.Context) { c.srv.RunPresence(ctx, time.Minute) }} {
			wg.Add(1)
			go func() { defer wg.Done(); run(ctx) }()
		}
		hs := httptest.NewServer(c.srv)
		defer hs.Close()
		client := (&testServer{url: hs.URL, rdb: c.rdb}).dial(t, "ada") // subscribes the user feed to ada
		joinCtx, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		if _, err := c.hub.Join(joinCtx, "pubsub-room", stayingSubscriber{}); err != nil {
			t.Fatal(err)
		}
		waitPubsubConns(t, admin, c.name, 2) // the hub, the user feed: nobody is watched yet
		client.write(frame{"type": "watch", "user_ids": []string{uuid.NewString()}})
		client.expect("presence", nil)
		waitPubsubConns(t, admin, c.name, 3) // and the presence feed, for the one watched

		stop, stopped := context.WithTimeout(context.Background(), 5*time.Second)
		defer stopped()
		c.srv.Shutdown(stop)
		client.conn.Close()
		cancel()
		wg.Wait()
		c.hub.Close()
		waitPubsubConns(t, admin, c.name, 0)
	})

	t.Run("built and closed, never run", func(t *testing.T) {
		c := newConnector(t, Config{})
		// A user feed used before RunUserFeed ran opens its connection, and
		// so does a presence feed watched before RunPresence ran.
		if err := c.srv.users.Add(context.Background(), "bob", &session{}); err != nil {
			t.Fatal(err)
		}
		c.srv.watchers.Watch(context.Background(), &deafSocket{}, []string{"cyd"})
		waitPubsubConns(t, admin, c.name, 2)
		c.srv.Close()
		c.hub.Close()
		waitPubsubConns(t, admin, c.name, 0)
		if err := errors.Join(c.srv.Close(), c.hub.Close()); err != nil {
			t.Fatalf("closing again: %v", err)
		}
	})

	t.Run("a join that failed, then closed", func(t *testing.T) {
		c := newConnector(t, Config{})
		// Without Run nothing reads the subscription's confirmation: the
		// join waits, with its pub/sub connection open, until it is given up.
		ctx, cancel := context.WithCancel(context.Background())
		joined := make(chan error, 1)
		go func() {
			_, err := c.hub.Join(ctx, "pubsub-room", stayingSubscriber{})
			joined <- err
		}()
		waitPubsubConns(t, admin, c.name, 1)
		cancel()
		if err := <-joined; err == nil {
			t.Fatal("join succeeded without the hub running")
		}
		c.hub.Close()
		c.srv.Close()
		waitPubsubConns(t, admin, c.name, 0)
	})
}

// deafSocket is a watching socket that drops what it is given.
type deafSocket struct{}

func (*deafSocket) Enqueue([]byte) {}
