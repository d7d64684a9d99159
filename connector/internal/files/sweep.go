package files

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// An upload URL is handed out before anyone knows whether a message will
// carry the file: the user may close the tab, or the send may be refused.
// Each upload therefore waits in pendingKey, scored by its deadline, until
// a message attaches it (claim) or the sweep deletes it from the store.
// Both run in Redis scripts, so an upload is either attached or swept,
// never both. sweptKey remembers swept uploads for a while: a send that
// read the file from the store just before it was swept is refused, not
// sent with a file that is gone.
const (
	pendingKey = "{uploads}:pending" // room/file -> deadline, unix ms
	sweptKey   = "{uploads}:swept"   // room/file -> when it was swept, unix ms

	// sweptMemory is how long sweptKey remembers: far longer than a send
	// takes from reading the file to claiming it.
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

// claimScript (KEYS: pendingKey, sweptKey; ARGV: member, now) takes an
// upload off the waiting list for a message: 1 when the message may carry
// it, 0 when it waited too long or was swept. An upload on neither list
// was attached before (a message may carry a file again) and may be.
var claimScript = redis.NewScript(`
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if deadline then
  if tonumber(deadline) <= tonumber(ARGV[2]) then return 0 end
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
return 1`)

// claim takes an upload off the waiting list for the message about to
// carry it, or refuses it when it is past its deadline.
func (s *Store) claim(ctx context.Context, roomID, fileID string) error {
	ok, err := claimScript.Run(ctx, s.pending, []string{pendingKey, sweptKey}, pendingMember(roomID, fileID), s.now().UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("files: claim upload %s: %w", fileID, err)
	}
	if ok == 0 {
		return fmt.Errorf("%w: file %s waited longer than %s for a message: upload it again", ErrRefused, fileID, forPeople(s.cfg.AttachTTL))
	}
	return nil
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

// takeDueScript (KEYS: pendingKey, sweptKey; ARGV: now, limit, forget
// before) moves up to limit uploads past their deadline from the waiting
// list to the swept list and returns them, after forgetting swept uploads
// older than ARGV[3].
var takeDueScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[2], ARGV[1], m)
end
return due`)

// Sweep deletes from the store the uploads no message carried by their
// deadline, and returns how many it took. One that cannot be deleted now
// waits again, due at once, for the next sweep. Connectors may sweep at
// the same time: each upload goes to one of them.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	swept := 0
	for {
		now := s.now()
		due, err := takeDueScript.Run(ctx, s.pending, []string{pendingKey, sweptKey},
			now.UnixMilli(), sweepBatch, now.Add(-sweptMemory).UnixMilli()).StringSlice()
		if err != nil {
			return swept, fmt.Errorf("files: sweep: %w", err)
		}
		for _, m := range due {
			i := strings.LastIndexByte(m, '/')
			roomID, fileID := m[:max(i, 0)], m[i+1:]
			if err := s.Remove(ctx, roomID, []string{fileID}); err != nil {
				// Due again at once; a send still finds it past its deadline.
				s.pending.ZAdd(context.WithoutCancel(ctx), pendingKey, redis.Z{Score: float64(now.UnixMilli()), Member: m})
				return swept, err
			}
			swept++
		}
		if len(due) < sweepBatch {
			return swept, nil
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
