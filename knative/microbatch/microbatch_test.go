package microbatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// recorder doubles its inputs and remembers the batch sizes it was called with.
type recorder struct {
	mu    sync.Mutex
	sizes []int
	fail  map[int]bool
}

func (r *recorder) do(_ context.Context, in []int) ([]int, []error) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(in))
	r.mu.Unlock()
	out, errs := make([]int, len(in)), make([]error, len(in))
	for i, v := range in {
		out[i] = 2 * v
		if r.fail[v] {
			errs[i] = fmt.Errorf("item %d failed", v)
		}
	}
	return out, errs
}

func start(t *testing.T, r *recorder, maxBatch int, wait time.Duration) *Batcher[int, int] {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := New(r.do, maxBatch, wait, time.Second)
	go b.Run(ctx)
	return b
}

func TestConcurrentCallsShareBatchesAndGetTheirOwnResults(t *testing.T) {
	r := &recorder{fail: map[int]bool{7: true}}
	b := start(t, r, 16, 50*time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 40)
	outs := make([]int, 40)
	for i := range 40 {
		wg.Go(func() { outs[i], errs[i] = b.Do(context.Background(), i) })
	}
	wg.Wait()
	for i := range 40 {
		if (errs[i] != nil) != (i == 7) || (i != 7 && outs[i] != 2*i) {
			t.Errorf("item %d: %d, %v", i, outs[i], errs[i])
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sizes) > 5 {
		t.Errorf("40 concurrent items took %d calls %v", len(r.sizes), r.sizes)
	}
	for _, n := range r.sizes {
		if n > 16 {
			t.Errorf("batch of %d over the maximum", n)
		}
	}
}

func TestALoneItemWaitsAtMostMaxWait(t *testing.T) {
	b := start(t, &recorder{}, 16, 20*time.Millisecond)
	begin := time.Now()
	if v, err := b.Do(context.Background(), 4); v != 8 || err != nil {
		t.Fatalf("Do = %d, %v", v, err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("a lone item took %v", d)
	}
}

func TestCallerContextEnds(t *testing.T) {
	b := New((&recorder{}).do, 4, time.Millisecond, time.Second) // not running
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do without Run = %v", err)
	}
}

func TestEach(t *testing.T) {
	boom := errors.New("boom")
	if errs := Each(3, boom); len(errs) != 3 || errs[2] != boom {
		t.Errorf("Each = %v", errs)
	}
	if Each(3, nil) != nil {
		t.Error("Each(nil) is not nil")
	}
}
