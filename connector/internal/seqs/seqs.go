// Package seqs is the authority over each room's message seqs. Seqs are
// handed out from a Redis counter, one INCR per message, but only within a
// lease: a block of seqs that persist has reserved durably (ReserveSeqs)
// and that belongs to the Redis server that holds the counter now.
//
// That is what keeps a seq from ever being handed out twice. Redis can lose
// a counter (eviction), or go back in time with it (a restart from an older
// snapshot, a failover to a replica that lagged, and back). A lost counter
// has no lease to count in; a counter restored or failed over still
// carries the run (run_id and replication id, see run_id in Library) of
// the server that wrote its lease, which no longer matches the server
// running the function (each reads its own server's).
// Either way the next claim finds no valid lease, and the authority starts
// the room again at a new durable block, above every seq any earlier lease
// could have handed out. The cost is a gap of at most one
// block in the room's seqs, which clients and the hub already skip (a send
// that failed leaves one too), and one ReserveSeqs call per block.
package seqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// functions are the authority's own: head returns a room's last seq
// taken, or -1 without a valid lease; install puts a reserved block
// (ARGV[1]..ARGV[2]) in place. Without a valid lease the counter starts
// again below the block (or stays where it is, if something moved it
// higher meanwhile); with one, the block only extends the lease, as the
// counter is already above every seq handed out before.
var functions = NewLibrary(map[string]string{
	"head": `
local l = redis.call('HMGET', KEYS[2], 'ceil', 'run')
local n = redis.call('GET', KEYS[1])
if not n or l[2] ~= run_id() then return -1 end
return tonumber(n)`,
	"install": `
local run = run_id()
local n = tonumber(redis.call('GET', KEYS[1]))
if redis.call('HGET', KEYS[2], 'run') ~= run or not n then
  redis.call('SET', KEYS[1], math.max(n or 0, tonumber(ARGV[1]) - 1))
  redis.call('HSET', KEYS[2], 'ceil', ARGV[2], 'run', run)
  return 1
end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[2], 'ceil')) then
  redis.call('HSET', KEYS[2], 'ceil', ARGV[2])
end
return 0`,
})

// Reserver reserves seq blocks durably: persist's ReserveSeqs.
type Reserver interface {
	ReserveSeqs(ctx context.Context, req *persistv1.ReserveSeqsRequest, opts ...grpc.CallOption) (*persistv1.ReserveSeqsResponse, error)
}

// Authority hands out a room's seqs. Safe for concurrent use.
type Authority struct {
	rdb      redis.UniversalClient
	reserver Reserver
	renewing singleflight.Group
	log      *slog.Logger

	mu        sync.Mutex
	triedSoon map[string]time.Time // room -> last renewal ahead of time (RenewSoon)
}

// New returns an authority over rdb.
func New(rdb redis.UniversalClient, reserver Reserver, log *slog.Logger) *Authority {
	return &Authority{rdb: rdb, reserver: reserver, log: log, triedSoon: map[string]time.Time{}}
}

// Keys are the keys to pass take_seq (see the prelude): counter, then lease.
func (a *Authority) Keys(roomID string) (counter, lease string) {
	return livev1.SeqCounterKey(roomID), livev1.SeqLeaseKey(roomID)
}

// Head is the last seq taken in a room (0 before the first). A room
// without a valid lease gets one first, so a head read after a lost or
// stale counter is above every seq handed out before.
func (a *Authority) Head(ctx context.Context, roomID string) (int64, error) {
	for range 2 {
		n, err := functions.Call(ctx, a.rdb, "head", []string{livev1.SeqCounterKey(roomID), livev1.SeqLeaseKey(roomID)}).Int64()
		if err != nil {
			return 0, fmt.Errorf("seqs: head of %s: %w", roomID, err)
		}
		if n >= 0 {
			return n, nil
		}
		if err := a.Renew(ctx, roomID); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("seqs: head of %s: no valid lease after renewing", roomID)
}

// Covers reports whether seq is within the seqs handed out in a room, and
// the head it was checked against. A counter never runs ahead of what a
// lease allowed, so a seq at or below it is covered with one GET; only a
// seq above it needs the lease-checked Head.
func (a *Authority) Covers(ctx context.Context, roomID string, seq int64) (head int64, covered bool, err error) {
	n, err := a.rdb.Get(ctx, livev1.SeqCounterKey(roomID)).Int64()
	if err == nil && seq <= n {
		return n, true, nil
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, false, fmt.Errorf("seqs: counter of %s: %w", roomID, err)
	}
	head, err = a.Head(ctx, roomID)
	return head, err == nil && seq <= head, err
}

// renewTimeout bounds one renewal, whoever waits for it.
const renewTimeout = 10 * time.Second

// Renew reserves the room's next block and puts it in place. Concurrent
// renewals of one room on this connector share one reservation, which
// outlives the caller that started it: the others wait on it too.
func (a *Authority) Renew(ctx context.Context, roomID string) error {
	ch := a.renewing.DoChan(roomID, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renewTimeout)
		defer cancel()
		floor, err := a.rdb.Get(ctx, livev1.SeqCounterKey(roomID)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("seqs: renew %s: %w", roomID, err)
		}
		block, err := a.reserver.ReserveSeqs(ctx, &persistv1.ReserveSeqsRequest{RoomId: roomID, Floor: max(floor, 0)})
		if err != nil {
			return nil, fmt.Errorf("seqs: reserve a block for %s: %w", roomID, err)
		}
		restarted, err := functions.Call(ctx, a.rdb, "install", []string{livev1.SeqCounterKey(roomID), livev1.SeqLeaseKey(roomID)}, block.First, block.Last).Int()
		if err != nil {
			return nil, fmt.Errorf("seqs: install block %d..%d of %s: %w", block.First, block.Last, roomID, err)
		}
		if restarted == 1 && floor > 0 {
			a.log.Warn("a room's seq counter was lost or is stale (Redis evicted, restarted or failed over): it goes on from a new durable block",
				"room", roomID, "counter", floor, "first", block.First)
		}
		return nil, nil
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return fmt.Errorf("seqs: renew %s: %w", roomID, ctx.Err())
	}
}

// renewSoonEvery spaces renewals ahead of time of one room, so a persist
// that cannot answer is not asked again by every send.
const renewSoonEvery = time.Second

// RenewSoon renews a room's lease ahead of its end, in the background,
// at most once per renewSoonEvery. done is called when it has finished.
func (a *Authority) RenewSoon(roomID string, done func()) bool {
	a.mu.Lock()
	now := time.Now()
	if now.Sub(a.triedSoon[roomID]) < renewSoonEvery {
		a.mu.Unlock()
		return false
	}
	a.triedSoon[roomID] = now
	if len(a.triedSoon) > 1024 { // forget rooms not renewed lately
		for room, at := range a.triedSoon {
			if now.Sub(at) > renewSoonEvery {
				delete(a.triedSoon, room)
			}
		}
	}
	a.mu.Unlock()
	go func() {
		defer done()
		if err := a.Renew(context.Background(), roomID); err != nil {
			a.log.Warn("renewing a seq lease ahead of time; sends will renew it", "room", roomID, "error", err)
		}
	}()
	return true
}
