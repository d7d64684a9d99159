package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestBurstThenRate(t *testing.T) {
	l := New(10, 5)
	clock := time.Unix(0, 0)
	l.now = func() time.Time { return clock }
	for i := range 5 {
		if !l.Allow("a") {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.Allow("a") {
		t.Fatal("request beyond the burst allowed")
	}
	if !l.Allow("b") {
		t.Fatal("keys are not independent")
	}
	clock = clock.Add(100 * time.Millisecond) // one token back at 10/s
	if !l.Allow("a") || l.Allow("a") {
		t.Fatal("refill is not one token per 100ms")
	}
}

func TestIdleKeysAreDropped(t *testing.T) {
	l := New(100, 1)
	clock := time.Unix(0, 0)
	l.now = func() time.Time { return clock }
	for i := range 200_000 {
		l.Allow(fmt.Sprint(i))
		clock = clock.Add(time.Millisecond)
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].buckets)
	}
	if n > 70_000 {
		t.Fatalf("%d buckets kept for 200k one-off keys", n)
	}
}

func TestBucket(t *testing.T) {
	b := NewBucket(2, 3)
	now := time.Unix(0, 0)
	for i := range 3 {
		if !b.Allow(now) {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if b.Allow(now) {
		t.Fatal("allowed beyond the burst")
	}
	if !b.Allow(now.Add(500*time.Millisecond)) || b.Allow(now.Add(500*time.Millisecond)) {
		t.Fatal("refill is not 2 per second")
	}
}

func TestBucketWaitNamesWhenTheNextTokenIsDue(t *testing.T) {
	b := NewBucket(4, 1)
	now := time.Unix(0, 0)
	if !b.Allow(now) || b.Wait() != 250*time.Millisecond {
		t.Fatalf("after the only token: wait %s, want 250ms", b.Wait())
	}
	if b.Allow(now.Add(100*time.Millisecond)) || b.Wait() != 150*time.Millisecond {
		t.Fatalf("100ms later: wait %s, want 150ms", b.Wait())
	}
	if !b.Allow(now.Add(100*time.Millisecond + b.Wait())) {
		t.Fatal("refused once the wait was over")
	}
}
