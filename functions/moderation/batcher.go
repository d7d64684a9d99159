package main

import (
	"context"
	"time"

	"github.com/parley-chat/parley/functions/moderation/internal/classify"
	"github.com/parley-chat/parley/knative/microbatch"
)

// classifyBatcher groups the texts of concurrent events into one inference
// call, which costs little more than a call for one text.
type classifyBatcher = microbatch.Batcher[string, []float32]

func newBatcher(clf classify.Classifier, maxBatch int, maxWait time.Duration) *classifyBatcher {
	return microbatch.New(func(_ context.Context, texts []string) ([][]float32, []error) {
		scores, err := clf.Classify(texts)
		return scores, microbatch.Each(len(texts), err)
	}, maxBatch, maxWait, time.Minute)
}

// flagBatcher stores the flags of concurrent events in one InsertMany:
// the texts of one inference batch come back together, and FerretDB
// costs ~0.7 ms of CPU per insert command whatever it holds
// (functions/BENCHMARKS.md).
type flagBatcher = microbatch.Batcher[flagDoc, struct{}]

func newFlagBatcher(s *store) *flagBatcher {
	return microbatch.New(func(ctx context.Context, docs []flagDoc) ([]struct{}, []error) {
		return nil, s.addFlags(ctx, docs)
	}, 64, 2*time.Millisecond, 10*time.Second)
}
