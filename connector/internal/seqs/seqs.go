// Package seqs is the authority over each room's message seqs. Seqs are
// handed out from a Redis counter, one INCR per message, but only within a
// lease: a block of seqs that persist has reserved durably (ReserveSeqs)
// and that belongs to the Redis server that holds the counter now.
//
// That is what keeps a seq from ever being handed out twice. Redis can lose
// a counter (eviction), or go back in time with it (a restart from an older
// snapshot, a failover to a replica that lagged). A lost counter has no
// lease to count in; a counter restored or failed over still carries the
// run_id of the server that wrote its lease, which no longer matches the
// server answering. Either way the next claim finds no valid lease, and the
// authority starts the room again at a new durable block, above every seq
// any earlier lease could have handed out. The cost is a gap of at most one
// block in the room's seqs, which clients and the hub already skip (a send
// that failed leaves one too), and one ReserveSeqs call per block.
package seqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"

	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// CounterKey is the Redis counter of a room's seqs: the last seq taken.
func CounterKey(roomID string) string { return "seq:{" + roomID + "}" }

// LeaseKey is the hash holding a room's lease: the last seq of its
// reserved block (ceil) and the run_id of the Redis server it is valid on.
func LeaseKey(roomID string) string { return "seqlease:{" + roomID + "}" }

// TakeLua defines the Lua function take_seq(counter, lease, run) for
// scripts that take a seq together with other work in one round trip. It
// returns the next seq, or false when the room needs a new lease (Renew).
const TakeLua = `
local function take_seq(counter, lease, run)
  local l = redis.call('HMGET', lease, 'ceil', 'run')
  local n = tonumber(redis.call('GET', counter))
  if not n or l[2] ~= run or n >= tonumber(l[1]) then return false end
  return redis.call('INCR', counter)
end
`

// headScript returns a room's last seq taken, or -1 without a valid lease.
var headScript = redis.NewScript(`
local l = redis.call('HMGET', KEYS[2], 'ceil', 'run')
local n = redis.call('GET', KEYS[1])
if not n or l[2] ~= ARGV[1] then return -1 end
return tonumber(n)`)

// installScript puts a reserved block (ARGV[1]..ARGV[2]) in place for
// server ARGV[3]. Without a valid lease the counter starts again below the
// block; with one, the block only extends the lease, as the counter is
// already above every seq handed out before.
var installScript = redis.NewScript(`
local run = redis.call('HGET', KEYS[2], 'run')
local n = redis.call('GET', KEYS[1])
if run ~= ARGV[3] or not n then
  redis.call('SET', KEYS[1], tonumber(ARGV[1]) - 1)
  redis.call('HSET', KEYS[2], 'ceil', ARGV[2], 'run', ARGV[3])
  return 1
end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[2], 'ceil')) then
  redis.call('HSET', KEYS[2], 'ceil', ARGV[2])
end
return 0`)

// Reserver reserves seq blocks durably: persist's ReserveSeqs.
type Reserver interface {
	ReserveSeqs(ctx context.Context, req *persistv1.ReserveSeqsRequest, opts ...grpc.CallOption) (*persistv1.ReserveSeqsResponse, error)
}

// Server learns the run_id of the Redis server a client talks to. Set its
// Observe as the client's redis.Options.OnConnect: every new connection
// reports the server behind it before it runs a command.
type Server struct {
	runID atomic.Pointer[string]
}

// Observe is a redis.Options.OnConnect hook.
func (s *Server) Observe(ctx context.Context, cn *redis.Conn) error {
	info, err := cn.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("seqs: redis INFO server: %w", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			s.runID.Store(&id)
			return nil
		}
	}
	return errors.New("seqs: redis INFO server has no run_id")
}

// RunID is the run_id last observed ("" before the first connection).
func (s *Server) RunID() string {
	if id := s.runID.Load(); id != nil {
		return *id
	}
	return ""
}

// Authority hands out a room's seqs. Safe for concurrent use.
type Authority struct {
	rdb      *redis.Client
	server   *Server
	reserver Reserver
	renewing singleflight.Group
	log      *slog.Logger
}

// New returns an authority over rdb, whose Options.OnConnect must be
// server.Observe.
func New(rdb *redis.Client, server *Server, reserver Reserver, log *slog.Logger) *Authority {
	return &Authority{rdb: rdb, server: server, reserver: reserver, log: log}
}

// Keys are the keys to pass take_seq (see TakeLua): counter, then lease.
func (a *Authority) Keys(roomID string) (counter, lease string) {
	return CounterKey(roomID), LeaseKey(roomID)
}

// RunID is the run argument of take_seq.
func (a *Authority) RunID() string { return a.server.RunID() }

// Head is the last seq taken in a room (0 before the first). A room
// without a valid lease gets one first, so a head read after a lost or
// stale counter is above every seq handed out before.
func (a *Authority) Head(ctx context.Context, roomID string) (int64, error) {
	for range 2 {
		n, err := headScript.Run(ctx, a.rdb, []string{CounterKey(roomID), LeaseKey(roomID)}, a.RunID()).Int64()
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

// Renew reserves the room's next block and puts it in place. Concurrent
// renewals of one room on this connector share one reservation.
func (a *Authority) Renew(ctx context.Context, roomID string) error {
	_, err, _ := a.renewing.Do(roomID, func() (any, error) {
		floor, err := a.rdb.Get(ctx, CounterKey(roomID)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("seqs: renew %s: %w", roomID, err)
		}
		block, err := a.reserver.ReserveSeqs(ctx, &persistv1.ReserveSeqsRequest{RoomId: roomID, Floor: max(floor, 0)})
		if err != nil {
			return nil, fmt.Errorf("seqs: reserve a block for %s: %w", roomID, err)
		}
		restarted, err := installScript.Run(ctx, a.rdb, []string{CounterKey(roomID), LeaseKey(roomID)}, block.First, block.Last, a.RunID()).Int()
		if err != nil {
			return nil, fmt.Errorf("seqs: install block %d..%d of %s: %w", block.First, block.Last, roomID, err)
		}
		if restarted == 1 && floor > 0 {
			a.log.Warn("a room's seq counter was lost or is stale (Redis evicted, restarted or failed over): it goes on from a new durable block",
				"room", roomID, "counter", floor, "first", block.First)
		}
		return nil, nil
	})
	return err
}
