package main

import (
	"context"
	"time"

	"github.com/parley-chat/parley/knative/microbatch"
)

// insertBatcher turns concurrent single inserts into InsertMany calls: a
// write waits at most 5 ms for companions, then goes with up to 255 others.
// FerretDB stores ~25x more documents per second this way: an insert costs
// it ~0.7 ms of CPU whether it holds one document or ten. At 500 messages/s
// a 2 ms wait made batches of about two; 5 ms halves FerretDB's CPU per
// message (functions/BENCHMARKS.md). The wait delays only storage: senders
// are acked after Kafka, and a flag that comes first is retried.
type insertBatcher = microbatch.Batcher[messageDoc, struct{}]

func newBatcher(insert func(context.Context, []messageDoc) []error) *insertBatcher {
	return microbatch.New(func(ctx context.Context, docs []messageDoc) ([]struct{}, []error) {
		return nil, insert(ctx, docs)
	}, 256, 5*time.Millisecond, 10*time.Second)
}
