package shardsub

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
)

var stack *devstack.Stack

// A real Redis Cluster of three masters: what this package exists for.
// One Redis is covered by the hub's and the user feed's tests.
func TestMain(m *testing.M) {
	os.Exit(devstacktest.RunCluster(m, devstack.Redis, 3, &stack))
}

func cluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	rdb, ok := redistest.Client(t, stack.RedisURL, "").(*redis.ClusterClient)
	if !ok {
		t.Fatalf("the stack's Redis is not a cluster: %s", stack.RedisURL)
	}
	return rdb
}

// channels returns n channel names whose slots are spread over every master.
func channels(t *testing.T, rdb *redis.ClusterClient, n int) (names []string, owners map[string]string) {
	t.Helper()
	owners = map[string]string{}
	masters := map[string]bool{}
	for i := range n {
		ch := "room:{" + t.Name() + "-" + strconv.Itoa(i) + "}"
		c, err := rdb.MasterForKey(context.Background(), ch)
		if err != nil {
			t.Fatal(err)
		}
		names, owners[ch] = append(names, ch), c.Options().Addr
		masters[owners[ch]] = true
	}
	if len(masters) != 3 {
		t.Fatalf("%d channels landed on %d masters, want all 3", n, len(masters))
	}
	return names, owners
}

// subscribersOn returns what each master says of channel's subscribers.
func subscribersOn(t *testing.T, rdb *redis.ClusterClient, channel string) map[string]int64 {
	t.Helper()
	var mu sync.Mutex // ForEachMaster asks the masters at once
	got := map[string]int64{}
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		// Asked of a node directly, SHARDNUMSUB counts that node's
		// subscribers without redirecting.
		n, err := c.Do(ctx, "pubsub", "shardnumsub", channel).Slice()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got[c.Options().Addr] = n[1].(int64)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// next reads Channel until a message or a subscription of kind arrives.
func next(t *testing.T, s *Sub, kind string) any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-s.Channel():
			if !ok {
				t.Fatal("channel closed")
			}
			switch m := m.(type) {
			case *redis.Message:
				if kind == "message" {
					return m
				}
			case *redis.Subscription:
				if m.Kind == kind {
					return m
				}
			}
		case <-timeout:
			t.Fatalf("no %s within 10s", kind)
		}
	}
}

// Each channel is subscribed on the master that owns its slot and nowhere
// else, and SPUBLISH from anywhere reaches the one Sub, in order per
// channel.
func TestShardChannelsAreSubscribedWhereTheirSlotLives(t *testing.T) {
	rdb := cluster(t)
	names, owners := channels(t, rdb, 12)
	s := New(rdb, 64, slog.Default())
	defer s.Close()
	ctx := context.Background()
	if err := s.Subscribe(ctx, names...); err != nil {
		t.Fatal(err)
	}
	for range names {
		next(t, s, "ssubscribe")
	}
	for _, ch := range names {
		for addr, n := range subscribersOn(t, rdb, ch) {
			if want := map[bool]int64{true: 1, false: 0}[addr == owners[ch]]; n != want {
				t.Errorf("%s (slot on %s): %d subscribers on %s, want %d", ch, owners[ch], n, addr, want)
			}
		}
	}
	const each = 20
	for i := range each {
		for _, ch := range names {
			if err := rdb.SPublish(ctx, ch, strconv.Itoa(i)).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]int{}
	for range each * len(names) {
		m := next(t, s, "message").(*redis.Message)
		if want := strconv.Itoa(seen[m.Channel]); m.Payload != want {
			t.Fatalf("%s: got %s, want %s (out of order or lost)", m.Channel, m.Payload, want)
		}
		seen[m.Channel]++
	}

	if err := s.Unsubscribe(ctx, names[0]); err != nil {
		t.Fatal(err)
	}
	redistest.Wait(t, func() (bool, string) {
		n := subscribersOn(t, rdb, names[0])[owners[names[0]]]
		return n == 0, fmt.Sprintf("%s still has %d subscribers after Unsubscribe", names[0], n)
	})
}

// When a channel's slot moves to another master, Redis ends the
// subscription on the old one; the Sub subscribes on the new one, says so
// with an ssubscribe the consumer did not ask for (the hub resyncs on it),
// and messages flow again.
func TestASubscriptionFollowsItsSlotToAnotherMaster(t *testing.T) {
	rdb := cluster(t)
	names, owners := channels(t, rdb, 12)
	ch := names[0]
	s := New(rdb, 64, slog.Default())
	defer s.Close()
	ctx := context.Background()
	if err := s.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	next(t, s, "ssubscribe")

	from := owners[ch]
	to := owners[names[1]]
	for _, other := range names {
		if owners[other] != from {
			to = owners[other]
			break
		}
	}
	moveSlot(t, rdb, ch, from, to)
	defer moveSlot(t, rdb, ch, to, from) // leave the cluster as it was

	if got := next(t, s, "ssubscribe").(*redis.Subscription); got.Channel != ch {
		t.Fatalf("re-subscribed to %s, want %s", got.Channel, ch)
	}
	if n := subscribersOn(t, rdb, ch); n[to] != 1 || n[from] != 0 {
		t.Fatalf("after the move: subscribers by master %v, want 1 on %s only", n, to)
	}
	if err := rdb.SPublish(ctx, ch, "after the move").Err(); err != nil {
		t.Fatal(err)
	}
	if got := next(t, s, "message").(*redis.Message); got.Payload != "after the move" {
		t.Fatalf("got %q", got.Payload)
	}
}

// moveSlot gives the (empty) slot of key to the master at to, as a
// resharding does once the slot's keys are migrated: every node is told.
func moveSlot(t *testing.T, rdb *redis.ClusterClient, key, from, to string) {
	t.Helper()
	ctx := context.Background()
	slot, err := rdb.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ids, nodes := map[string]string{}, map[string]*redis.Client{}
	err = rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		id, err := c.ClusterMyID(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		ids[c.Options().Addr], nodes[c.Options().Addr] = id, c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The new owner first, then the old (which then ends the slot's
	// subscriptions), then the rest.
	order := []string{to, from}
	for addr := range nodes {
		if addr != to && addr != from {
			order = append(order, addr)
		}
	}
	for _, addr := range order {
		if err := nodes[addr].Do(ctx, "cluster", "setslot", slot, "node", ids[to]).Err(); err != nil {
			t.Fatalf("setslot %d node %s on %s: %v", slot, to, addr, err)
		}
	}
	redistest.Wait(t, func() (bool, string) {
		rdb.ReloadState(ctx)
		c, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			return false, err.Error()
		}
		return c.Options().Addr == to, "the client still sees slot " + strconv.FormatInt(slot, 10) + " on " + c.Options().Addr
	})
}

// Close returns and closes Channel even when nobody reads it any more and
// forwarders are blocked on it.
func TestCloseEndsBlockedForwarders(t *testing.T) {
	rdb := cluster(t)
	names, _ := channels(t, rdb, 6)
	s := New(rdb, 1, slog.Default())
	ctx := context.Background()
	if err := s.Subscribe(ctx, names...); err != nil {
		t.Fatal(err)
	}
	for _, ch := range names {
		redistest.Subscribers(t, rdb, ch, 1)
		for i := range 10 {
			rdb.SPublish(ctx, ch, strconv.Itoa(i))
		}
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil && !strings.Contains(err.Error(), "closed") {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
	}
	for range s.Channel() {
	}
}
