package files

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// An upload URL is handed out before anyone knows whether a message will
// carry the file: the user may close the tab, or the send may be refused.
// Each upload therefore waits in pendingKey, scored by its deadline, until
// a message takes it (Claim) or the sweep deletes it from the store. Both
// run in Redis scripts, so an upload is either carried or swept, never
// both. The sweep leases what it takes (its deadline moves sweepLease on)
// and lets go of each upload once it is deleted, so one a sweep could not
// delete (the store was down, the connector stopped) is taken again.
// sweptKey marks what a sweep has taken: a send never carries those, even
// one that read the file from the store just before it went.
const (
	pendingKey = "{uploads}:pending" // room/file -> deadline (or end of the sweep's lease), unix ms
	sweptKey   = "{uploads}:swept"   // room/file -> when a sweep last took it, unix ms

	// sweepLease is how long a sweep has to delete what it took.
	sweepLease = 5 * time.Minute
	// sweptMemory is how long sweptKey remembers a deleted upload: far
	// longer than a send takes from reading the file to claiming it.
	sweptMemory = time.Hour
	// sweepBatch bounds the uploads one script takes, and so the time it
	// holds Redis.
	sweepBatch = 100
)

func pendingMember(roomID, fileID string) string { return roomID + "/" + fileID }

// await registers a new upload as waiting for a message.
func (s *Store) await(ctx context.Context, roomID, fileID string) error {
	deadline := s.now().Add(s.cfg.AttachTTL).UnixMilli()
	if err := s.pending.ZAdd(ctx, pendingKey, redis.Z{Score: float64(deadline), Member: pendingMember(roomID, fileID)}).Err(); err != nil {
		return fmt.Errorf("files: register upload: %w", err)
	}
	return nil
}

// claimScript (KEYS: pendingKey, sweptKey; ARGV: now, then the uploads)
// takes the uploads of one message off the waiting list, all or none: it
// returns 0 when it took them, or the 1-based place of the first that a
// sweep took or that waited past its deadline. An upload on neither list
// was carried before (a message may carry a file again) and may be.
var claimScript = redis.NewScript(`
local now = tonumber(ARGV[1])
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then return i - 1 end
  local deadline = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if deadline and tonumber(deadline) <= now then return i - 1 end
end
for i = 2, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
return 0`)

// Claim takes a message's uploads off the waiting list once the message is
// about to be sent, all of them or none, so a send refused on one file
// leaves the others waiting (and swept in time). It refuses an upload past
// its deadline or swept. A send that fails after Claim leaves its files
// in the store: a leak, never a file gone from a message.
func (s *Store) Claim(ctx context.Context, roomID string, fileIDs []string) error {
	if len(fileIDs) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(fileIDs))
	args = append(args, s.now().UnixMilli())
	for _, id := range fileIDs {
		args = append(args, pendingMember(roomID, id))
	}
	refused, err := claimScript.Run(ctx, s.pending, []string{pendingKey, sweptKey}, args...).Int()
	if err != nil {
		return fmt.Errorf("files: claim uploads: %w", err)
	}
	if refused > 0 {
		return s.tooLate(fileIDs[refused-1])
	}
	return nil
}

// tooLate is the refusal of an upload that waited past its deadline.
func (s *Store) tooLate(fileID string) error {
	return fmt.Errorf("%w: file %s waited longer than %s for a message: upload it again", ErrRefused, fileID, forPeople(s.cfg.AttachTTL))
}

// swept reports whether a sweep took the upload (recently).
func (s *Store) swept(ctx context.Context, roomID, fileID string) bool {
	return s.pending.ZScore(ctx, sweptKey, pendingMember(roomID, fileID)).Err() == nil
}

// forPeople writes d as people do: "24 hours", not "24h0m0s".
func forPeople(d time.Duration) string {
	count := func(n time.Duration, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d%time.Hour == 0:
		return count(d/time.Hour, "hour")
	case d%time.Minute == 0:
		return count(d/time.Minute, "minute")
	}
	return d.String()
}

// takeDueScript (KEYS: pendingKey, sweptKey; ARGV: now, limit, lease
// end, forget before) leases up to limit uploads past their deadline to
// the caller: marks them swept and moves their deadline to the lease's
// end. It first forgets swept uploads marked before ARGV[4].
var takeDueScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(due) do
  redis.call('ZADD', KEYS[2], ARGV[1], m)
  redis.call('ZADD', KEYS[1], ARGV[3], m)
end
return due`)

// Sweep deletes from the store the uploads no message carried by their
// deadline, and returns how many it deleted. One it cannot delete now
// stays leased and is taken again once the lease ends. Connectors may
// sweep at the same time: each upload goes to one of them.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	swept := 0
	for {
		now := s.now()
		due, err := takeDueScript.Run(ctx, s.pending, []string{pendingKey, sweptKey},
			now.UnixMilli(), sweepBatch, now.Add(sweepLease).UnixMilli(), now.Add(-sweptMemory).UnixMilli()).StringSlice()
		if err != nil {
			return swept, fmt.Errorf("files: sweep: %w", err)
		}
		var errs []error
		var deleted []any
		for _, m := range due {
			i := strings.LastIndexByte(m, '/')
			if err := s.Remove(ctx, m[:max(i, 0)], []string{m[i+1:]}); err != nil {
				errs = append(errs, err)
				continue
			}
			deleted = append(deleted, m)
		}
		if len(deleted) > 0 {
			// Let go of them in one call; if it fails they are taken again
			// after the lease, and deleting twice is fine.
			if err := s.pending.ZRem(ctx, pendingKey, deleted...).Err(); err != nil {
				errs = append(errs, fmt.Errorf("files: sweep: %w", err))
			} else {
				swept += len(deleted)
			}
		}
		if len(errs) > 0 || len(due) < sweepBatch {
			return swept, errors.Join(errs...)
		}
	}
}

// RunSweeper sweeps every interval until ctx ends.
func (s *Store) RunSweeper(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("sweeping unattached uploads", "swept", n, "error", err)
		} else if n > 0 {
			log.Info("swept unattached uploads", "swept", n)
		}
	}
}
