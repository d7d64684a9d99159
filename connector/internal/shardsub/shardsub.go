// Package shardsub subscribes to Redis shard channels (SSUBSCRIBE) on one
// Redis or on a Redis Cluster, behind one Go channel.
//
// Parley publishes with SPUBLISH, never PUBLISH: on a cluster a PUBLISH is
// copied over the cluster bus to every node, so pub/sub traffic would grow
// with the shards instead of being split by them, while a shard channel
// lives on the node that owns its slot. A subscriber must then ask that
// node, and go-redis's PubSub holds one connection: a Sub keeps one PubSub
// per master it needs, each with a goroutine that forwards into the one
// channel. A channel's messages all come from one node, so they stay in
// order. On one Redis there is one PubSub and its channel is the Sub's,
// with no goroutine in between.
//
// When a slot moves to another master, Redis ends the subscriptions of its
// channels on the old one with a sunsubscribe nobody asked for; Sub then
// learns the new owner and subscribes there. Its ssubscribe confirmation
// reaches the consumer as after a reconnect, and what was published
// meanwhile is lost as then: the consumer resyncs on a confirmation it did
// not wait for (the hub does; frames on user channels are ephemeral).
package shardsub

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sub is a set of shard-channel subscriptions. Its methods are safe for
// concurrent use.
type Sub struct {
	rdb     redis.UniversalClient
	cluster *redis.ClusterClient // nil on one Redis
	size    int                  // the buffer of the channel Channel returns
	out     chan any             // on a cluster: what the forwarders pass on
	// ctx ends at Close: forwarders stop sending to out, a resubscribe
	// stops waiting for its slot's new master.
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	mu       sync.Mutex
	nodes    map[string]*node  // master address ("" on one Redis) -> its subscription
	channels map[string]string // channel -> master address it is subscribed on
	closed   bool
	forwards sync.WaitGroup
}

type node struct {
	addr string
	ps   *redis.PubSub
}

// New returns a Sub on rdb that opens no connection until the first
// Subscribe. size is the buffer of the channel Channel returns.
func New(rdb redis.UniversalClient, size int, log *slog.Logger) *Sub {
	cluster, _ := rdb.(*redis.ClusterClient)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sub{rdb: rdb, cluster: cluster, size: size, ctx: ctx, cancel: cancel, log: log,
		nodes: map[string]*node{}, channels: map[string]string{}}
	if cluster != nil {
		s.out = make(chan any, size)
	} else {
		// No channels: no connection until the first Subscribe.
		s.nodes[""] = &node{ps: rdb.SSubscribe(context.Background())}
	}
	return s
}

// Channel delivers *redis.Message and *redis.Subscription (Kind ssubscribe
// or sunsubscribe) values from every node; it is closed by Close.
func (s *Sub) Channel() <-chan any {
	if s.cluster != nil {
		return s.out
	}
	// On one Redis, go-redis's own channel of the one subscription (made
	// once, on the first call, by go-redis).
	return s.nodes[""].ps.ChannelWithSubscriptions(redis.WithChannelSize(s.size))
}

// Subscribe subscribes to channels on the masters that own them. As with
// go-redis, it returns once the commands are written: the confirmations
// arrive on Channel. A channel already subscribed is left as it is.
func (s *Sub) Subscribe(ctx context.Context, channels ...string) error {
	for _, ch := range channels {
		if err := s.subscribe(ctx, ch); err != nil {
			return fmt.Errorf("ssubscribe %s: %w", ch, err)
		}
	}
	return nil
}

func (s *Sub) subscribe(ctx context.Context, channel string) error {
	addr, client, err := s.owner(ctx, channel)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return redis.ErrClosed
	}
	if _, ok := s.channels[channel]; ok {
		return nil
	}
	n := s.nodes[addr]
	if n == nil {
		// No channels yet: the connection opens with the first SSUBSCRIBE.
		n = &node{addr: addr, ps: client.SSubscribe(context.Background())}
		s.nodes[addr] = n
		s.forwards.Add(1)
		go s.forward(n)
	}
	s.channels[channel] = addr
	return n.ps.SSubscribe(ctx, channel)
}

// owner returns the master that owns channel's slot, and a client on it.
func (s *Sub) owner(ctx context.Context, channel string) (string, redis.UniversalClient, error) {
	if s.cluster == nil {
		return "", s.rdb, nil
	}
	c, err := s.cluster.MasterForKey(ctx, channel)
	if err != nil {
		return "", nil, err
	}
	return c.Options().Addr, c, nil
}

// Unsubscribe ends the subscriptions to channels. The commands are written
// under the lock that Subscribe writes under, so a channel left and joined
// at once ends up subscribed.
func (s *Sub) Unsubscribe(ctx context.Context, channels ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	byNode := map[*node][]string{}
	for _, ch := range channels {
		if addr, ok := s.channels[ch]; ok {
			delete(s.channels, ch)
			byNode[s.nodes[addr]] = append(byNode[s.nodes[addr]], ch)
		}
	}
	for n, chs := range byNode {
		if err := n.ps.SUnsubscribe(ctx, chs...); err != nil {
			return fmt.Errorf("sunsubscribe on %s: %w", n.addr, err)
		}
	}
	return nil
}

// forward passes n's messages on until its PubSub is closed (on a
// cluster only: one Redis hands its channel over directly).
func (s *Sub) forward(n *node) {
	defer s.forwards.Done()
	for m := range n.ps.ChannelWithSubscriptions(redis.WithChannelSize(s.size)) {
		if sub, ok := m.(*redis.Subscription); ok && sub.Kind == "sunsubscribe" && s.moved(n, sub.Channel) {
			continue
		}
		select {
		case s.out <- m:
		case <-s.ctx.Done():
			return // Close closes n.ps too, which ends go-redis's side
		}
	}
}

// moved reports whether a sunsubscribe on n ended a subscription this Sub
// still holds there, which Redis does when the channel's slot moves to
// another master; it then subscribes again where the slot is now.
func (s *Sub) moved(n *node, channel string) bool {
	s.mu.Lock()
	held := s.channels[channel] == n.addr && !s.closed
	if held {
		delete(s.channels, channel)
	}
	s.mu.Unlock()
	if !held {
		return false
	}
	s.log.Warn("a shard channel's slot moved; subscribing on its new master", "channel", channel, "from", n.addr)
	// Forget the channel on n, or go-redis would subscribe it there again
	// on a reconnect.
	_ = n.ps.SUnsubscribe(context.Background(), channel)
	s.forwards.Add(1)
	go func() {
		defer s.forwards.Done()
		s.resubscribe(channel, n.addr)
	}()
	return true
}

// resubscribe subscribes to a moved channel once the cluster client has
// learnt its slot's new master (it reloads the slots in the background).
func (s *Sub) resubscribe(channel, from string) {
	ctx := s.ctx
	pause := 10 * time.Millisecond
	for range 20 {
		s.cluster.ReloadState(ctx)
		if c, err := s.cluster.MasterForKey(ctx, channel); err == nil && c.Options().Addr != from {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
			pause = min(2*pause, time.Second)
		}
	}
	if err := s.subscribe(ctx, channel); err != nil && ctx.Err() == nil {
		s.log.Error("re-subscribing a moved shard channel", "channel", channel, "error", err)
	}
}

// Close ends every subscription, waits for the forwarders and closes
// Channel. It may be called more than once.
func (s *Sub) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	nodes := s.nodes
	s.mu.Unlock()
	var first error
	for _, n := range nodes {
		if err := n.ps.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.forwards.Wait()
	if s.out != nil { // a direct Sub's channel is go-redis's, closed with its PubSub
		close(s.out)
	}
	return first
}
