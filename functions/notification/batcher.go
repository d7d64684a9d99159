package main

import (
	"context"
	"time"

	"github.com/parley-chat/parley/knative/microbatch"
)

// insertBatcher stores the notifications of concurrent events in one
// InsertMany: most events make one notification or none, and FerretDB
// costs ~0.7 ms of CPU per insert command whether it holds one document
// or ten (functions/BENCHMARKS.md). A call waits at most 2 ms for company.
type insertBatcher = microbatch.Batcher[[]notificationDoc, []notificationDoc]

// newInsertBatcher returns a batcher whose Do stores one event's
// notifications and returns those that are new.
func newInsertBatcher(s *store) *insertBatcher {
	return microbatch.New(func(ctx context.Context, groups [][]notificationDoc) ([][]notificationDoc, []error) {
		fresh, err := s.insertGroups(ctx, groups)
		return fresh, microbatch.Each(len(groups), err)
	}, 256, 2*time.Millisecond, 10*time.Second)
}

// insertGroups stores every group's notifications in one command and
// returns each group's new ones. A notification two groups share (two
// deliveries of one event in one batch) is new to the first only.
func (s *store) insertGroups(ctx context.Context, groups [][]notificationDoc) ([][]notificationDoc, error) {
	var all []notificationDoc
	for _, g := range groups {
		all = append(all, g...)
	}
	fresh, err := s.insert(ctx, all)
	if err != nil {
		return nil, err
	}
	out := make([][]notificationDoc, len(groups))
	i := 0
	for g, docs := range groups {
		for _, d := range docs {
			if fresh[i] {
				out[g] = append(out[g], d)
			}
			i++
		}
	}
	return out, nil
}
