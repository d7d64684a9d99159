package main

import (
	"context"
	"time"

	"github.com/parley-chat/parley/knative/microbatch"
)

// insertBatcher turns concurrent single inserts into InsertMany calls: a
// write waits at most 2 ms for companions, then goes with up to 255 others.
// FerretDB stores ~25x more documents per second this way.
type insertBatcher = microbatch.Batcher[messageDoc, struct{}]

func newBatcher(insert func(context.Context, []messageDoc) []error) *insertBatcher {
	return microbatch.New(func(ctx context.Context, docs []messageDoc) ([]struct{}, []error) {
		return nil, insert(ctx, docs)
	}, 256, 2*time.Millisecond, 10*time.Second)
}
