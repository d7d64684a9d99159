// Package seqstest reserves seq blocks in memory, for tests of the seq
// authority's users that do not run persist (whose durable ReserveSeqs is
// tested against FerretDB in functions/persist).
package seqstest

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// Blocks hands out blocks of 1000 seqs per room, each above the floor and
// every block before. Safe for concurrent use.
type Blocks struct {
	mu    sync.Mutex
	last  map[string]int64
	calls int
}

// ReserveSeqs is persist's ReserveSeqs.
func (b *Blocks) ReserveSeqs(_ context.Context, req *persistv1.ReserveSeqsRequest, _ ...grpc.CallOption) (*persistv1.ReserveSeqsResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		b.last = map[string]int64{}
	}
	b.calls++
	first := max(b.last[req.RoomId], req.Floor) + 1
	b.last[req.RoomId] = first + 999
	return &persistv1.ReserveSeqsResponse{First: first, Last: first + 999}, nil
}

// Calls is how many blocks were reserved.
func (b *Blocks) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}
