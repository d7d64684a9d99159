// Package redistest waits on conditions in the real Redis that the
// connector's tests run against: pub/sub is fire and forget, so a test
// publishes only once a subscription is seen in Redis, and a closed
// connection is gone only once Redis has read the close.
package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/knative/stores"
)

// Wait polls cond until it reports true, for at most 5s, pausing from 1ms
// up to 100ms between polls; then it fails the test with cond's last
// description of what it saw.
func Wait(t testing.TB, cond func() (ok bool, saw string)) {
	t.Helper()
	WaitFor(t, 5*time.Second, cond)
}

// WaitFor is Wait for at most d: for what Redis does on its own time, such
// as a cluster's nodes hearing of a failover by gossip.
func WaitFor(t testing.TB, d time.Duration, cond func() (ok bool, saw string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, saw)
		}
		<-time.After(pause)
	}
}

// Subscribers waits until shard channel has want subscribers in Redis: on a
// cluster, on the master that owns its slot, asked directly (PUBSUB has no
// key to route by).
func Subscribers(t testing.TB, rdb redis.UniversalClient, channel string, want int64) {
	t.Helper()
	Wait(t, func() (bool, string) {
		node := rdb
		if cluster, ok := rdb.(*redis.ClusterClient); ok {
			master, err := cluster.MasterForKey(context.Background(), channel)
			if err != nil {
				return false, err.Error()
			}
			node = master
		}
		n, err := node.PubSubShardNumSub(context.Background(), channel).Result()
		if err != nil {
			return false, err.Error()
		}
		return n[channel] == want, fmt.Sprintf("%s has %d subscribers, want %d", channel, n[channel], want)
	})
}

// Client connects to the Redis at url (a test stack's RedisURL: one Redis
// or a Redis Cluster) until the test ends; with name, its connections carry
// that client name.
func Client(t testing.TB, url, name string) redis.UniversalClient {
	t.Helper()
	if name != "" {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + "client_name=" + name
	}
	rdb, err := stores.RedisURL(url, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
