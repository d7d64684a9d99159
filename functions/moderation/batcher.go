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
