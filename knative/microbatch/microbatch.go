// Package microbatch turns concurrent single calls into batched ones: an
// item waits at most MaxWait for company, then goes with up to MaxBatch
// others in one call. Functions use it where one call for many items is
// much cheaper than many calls (database inserts, model inference).
package microbatch

import (
	"context"
	"time"
)

// Batcher batches calls of Do into calls of the function it was made with.
// Run must be running; one goroutine makes the calls, so that function is
// never called concurrently.
type Batcher[I, O any] struct {
	do       func(context.Context, []I) ([]O, []error)
	in       chan item[I, O]
	maxBatch int
	maxWait  time.Duration
	timeout  time.Duration
}

type item[I, O any] struct {
	in  I
	out chan result[O]
}

type result[O any] struct {
	v   O
	err error
}

// New returns a batcher around do, which must return one output and one
// error per input, in order. Each call of do is bounded by timeout.
func New[I, O any](do func(context.Context, []I) ([]O, []error), maxBatch int, maxWait, timeout time.Duration) *Batcher[I, O] {
	return &Batcher[I, O]{do: do, in: make(chan item[I, O]), maxBatch: maxBatch, maxWait: maxWait, timeout: timeout}
}

// Do adds v to the next batch and returns its outcome. Once ctx ends the
// caller stops waiting; the batch may still complete.
func (b *Batcher[I, O]) Do(ctx context.Context, v I) (O, error) {
	it := item[I, O]{in: v, out: make(chan result[O], 1)}
	var zero O
	select {
	case b.in <- it:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case r := <-it.out:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Run collects and makes batched calls until ctx ends. A batch taken
// before that is completed, not abandoned.
func (b *Batcher[I, O]) Run(ctx context.Context) {
	for {
		var items []item[I, O]
		select {
		case <-ctx.Done():
			return
		case it := <-b.in:
			items = append(items, it)
		}
		timer := time.NewTimer(b.maxWait)
	collect:
		for len(items) < b.maxBatch {
			select {
			case it := <-b.in:
				items = append(items, it)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		in := make([]I, len(items))
		for i, it := range items {
			in[i] = it.in
		}
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
		out, errs := b.do(callCtx, in)
		cancel()
		for i, it := range items {
			var r result[O]
			if i < len(out) {
				r.v = out[i]
			}
			if i < len(errs) {
				r.err = errs[i]
			}
			it.out <- r
		}
	}
}

// Each is a helper for functions whose batched call fails or succeeds as a
// whole: it gives every item the same error.
func Each(n int, err error) []error {
	if err == nil {
		return nil
	}
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}
