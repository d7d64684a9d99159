package main

import (
	"context"
	"time"

	"github.com/parley-chat/parley/functions/moderation/internal/classify"
)

// batcher groups texts of concurrent events into one inference call: a
// text waits at most maxWait for company, then goes with up to maxBatch
// others. One goroutine calls the model, so it is never used concurrently.
type batcher struct {
	clf      classify.Classifier
	in       chan job
	maxBatch int
	maxWait  time.Duration
}

type job struct {
	text string
	out  chan result
}

type result struct {
	scores []float32
	err    error
}

func newBatcher(clf classify.Classifier, maxBatch int, maxWait time.Duration) *batcher {
	return &batcher{clf: clf, in: make(chan job), maxBatch: maxBatch, maxWait: maxWait}
}

func (b *batcher) classify(ctx context.Context, text string) ([]float32, error) {
	j := job{text: text, out: make(chan result, 1)}
	select {
	case b.in <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-j.out:
		return r.scores, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *batcher) run(ctx context.Context) {
	for {
		var jobs []job
		select {
		case <-ctx.Done():
			return
		case j := <-b.in:
			jobs = append(jobs, j)
		}
		timer := time.NewTimer(b.maxWait)
	collect:
		for len(jobs) < b.maxBatch {
			select {
			case j := <-b.in:
				jobs = append(jobs, j)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		texts := make([]string, len(jobs))
		for i, j := range jobs {
			texts[i] = j.text
		}
		scores, err := b.clf.Classify(texts)
		for i, j := range jobs {
			r := result{err: err}
			if err == nil {
				r.scores = scores[i]
			}
			j.out <- r
		}
	}
}
