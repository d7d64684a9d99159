// Package ratelimit is a keyed token bucket: each key (a user, an IP) may
// spend Burst tokens at once and regains Rate tokens per second. Memory is
// bounded: keys idle long enough to be full again are dropped.
package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

const shards = 64

// Limiter is safe for concurrent use.
type Limiter struct {
	rate   float64 // tokens per second
	burst  float64
	now    func() time.Time
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	sweeps  int
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter allowing rate events per second per key, with bursts of burst.
func New(rate float64, burst int) *Limiter {
	l := &Limiter{rate: rate, burst: float64(burst), now: time.Now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// Allow spends one token of key and reports whether there was one.
func (l *Limiter) Allow(key string) bool {
	s := &l.shards[maphash.String(l.seed, key)%shards]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		s.buckets[key] = b
		s.sweep(now, l)
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops full buckets every so many inserts, keeping memory bounded by
// the number of recently active keys.
func (s *shard) sweep(now time.Time, l *Limiter) {
	s.sweeps++
	if s.sweeps < 1024 {
		return
	}
	s.sweeps = 0
	refill := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range s.buckets {
		if now.Sub(b.last) >= refill {
			delete(s.buckets, k)
		}
	}
}

// Bucket is a single token bucket, for one socket's own limit: a Limiter's
// shards would cost far more memory than the socket.
type Bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// NewBucket returns a full bucket allowing rate events per second with bursts of burst.
func NewBucket(rate float64, burst int) Bucket {
	return Bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// Allow spends a token if there is one. Not safe for concurrent use.
func (b *Bucket) Allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Wait is how long after the last Allow the next token is due: zero if
// one is there now.
func (b *Bucket) Wait() time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
