package files

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// QuotaError refuses an upload that would take its user past
// Config.UserBytesPerDay. Its message is for people.
type QuotaError struct {
	Limit, Left int64
	// RetryAfter is how long until the day's quota starts again.
	RetryAfter time.Duration
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("you may upload %s a day and have %s left today (the day ends at midnight UTC)",
		eventsv1.HumanBytes(e.Limit), eventsv1.HumanBytes(e.Left))
}

// chargeScript (KEYS: livev1.UploadBytesKey; ARGV: size, limit, seconds
// to keep the counter) adds size to the day's bytes unless that would pass
// limit, and returns the bytes left after it, or -1 - the bytes left when
// refused.
var chargeScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local size, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if used + size > limit then return -1 - math.max(limit - used, 0) end
redis.call('INCRBY', KEYS[1], size)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return limit - used - size`)

// charge counts size bytes against user's quota for today, or refuses them
// with a *QuotaError. A URL counts when it is handed out, used or not:
// what a user is refused is more URLs, and an unused one costs the store
// nothing but the quota spent on it.
func (s *Store) charge(ctx context.Context, user string, size int64) error {
	now := s.now().UTC()
	day := now.Truncate(24 * time.Hour)
	end := day.Add(24 * time.Hour)
	// Kept a day past the day's end: a clock behind by less still finds it.
	keep := int64(end.Add(24*time.Hour).Sub(now) / time.Second)
	left, err := chargeScript.Run(ctx, s.pending, []string{livev1.UploadBytesKey(user, day)}, size, s.cfg.UserBytesPerDay, keep).Int64()
	if err != nil {
		return fmt.Errorf("files: count the upload against the user's quota: %w", err)
	}
	if left < 0 {
		return &QuotaError{Limit: s.cfg.UserBytesPerDay, Left: -1 - left, RetryAfter: end.Sub(now)}
	}
	return nil
}
