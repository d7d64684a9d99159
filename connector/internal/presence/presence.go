// Package presence tracks who is online across every connector, in Redis.
//
// Each session of a user is a member of the sorted set presence:{user},
// scored by when it expires; its status is in the hash pstatus:{user}. A
// connector refreshes its own sessions every TTL/3, so a connector that
// crashes leaves no ghost: its sessions expire within TTL. A user is online
// if any live session is online, away if all live sessions are away, and
// offline otherwise.
package presence

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// Statuses.
const (
	Online  = "online"
	Away    = "away"
	Offline = "offline"
)

// Tracker is safe for concurrent use.
type Tracker struct {
	rdb redis.UniversalClient
	ttl time.Duration
	log *slog.Logger

	mu    sync.Mutex
	local map[string]map[string]string // user -> session -> status
}

// New returns a tracker whose sessions expire ttl after their last refresh.
func New(rdb redis.UniversalClient, ttl time.Duration, log *slog.Logger) *Tracker {
	return &Tracker{rdb: rdb, ttl: ttl, log: log, local: map[string]map[string]string{}}
}

// recordScript adds session (ARGV[1]) with its status (ARGV[2]) to a
// user's live sessions (KEYS[1], and KEYS[2] for the statuses), expiring
// at ARGV[3] (Unix ms). With a bound (ARGV[5] > 0) it refuses a new
// session if the user already has that many live ones elsewhere; those
// that lapsed by ARGV[4] are dropped first, so a crashed connector's
// sessions stop counting once they expire. ARGV[6] is the keys' own
// lifetime in milliseconds. It answers 1 if recorded, else 0.
var recordScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
local bound = tonumber(ARGV[5])
if bound > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= bound then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1`)

// record writes a live session's status in Redis, refusing it when max
// (0: no bound) live sessions of the user are there already.
func (t *Tracker) record(ctx context.Context, user, session, status string, max int) (bool, error) {
	now := time.Now()
	return recordScript.Run(ctx, t.rdb, []string{livev1.PresenceKey(user), livev1.PresenceStatusKey(user)},
		session, status, now.Add(t.ttl).UnixMilli(), now.UnixMilli(), max, (2 * t.ttl).Milliseconds()).Bool()
}

// Admit records a new session's status, as Set does, if its user has
// fewer than max live sessions on every connector together, and reports
// whether it did. The check and the record are one step, so sessions
// opened at once on different connectors cannot all slip under max.
func (t *Tracker) Admit(ctx context.Context, user, session, status string, max int) (bool, error) {
	before := t.Status(ctx, user)
	admitted, err := t.record(ctx, user, session, status, max)
	if err != nil || !admitted {
		return admitted, err
	}
	t.remember(user, session, status)
	return true, t.announce(ctx, user, before)
}

// remember keeps a session's status for the refreshes; Offline forgets it.
func (t *Tracker) remember(user, session, status string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if status == Offline {
		delete(t.local[user], session)
		if len(t.local[user]) == 0 {
			delete(t.local, user)
		}
		return
	}
	if t.local[user] == nil {
		t.local[user] = map[string]string{}
	}
	t.local[user][session] = status
}

// announce publishes the user's overall status if it is not before.
func (t *Tracker) announce(ctx context.Context, user, before string) error {
	if after := t.Status(ctx, user); after != before {
		frame, _ := json.Marshal(livev1.Presence(user, after))
		return t.rdb.SPublish(ctx, livev1.PresenceChannel(user), frame).Err()
	}
	return nil
}

// Set records a session's status; Offline removes the session. When the
// user's overall status changes, the change is published.
func (t *Tracker) Set(ctx context.Context, user, session, status string) error {
	before := t.Status(ctx, user)
	t.remember(user, session, status)
	var err error
	if status == Offline {
		pipe := t.rdb.TxPipeline()
		pipe.ZRem(ctx, livev1.PresenceKey(user), session)
		pipe.HDel(ctx, livev1.PresenceStatusKey(user), session)
		_, err = pipe.Exec(ctx)
	} else {
		_, err = t.record(ctx, user, session, status, 0)
	}
	if err != nil {
		return err
	}
	return t.announce(ctx, user, before)
}

// Status returns a user's overall status.
func (t *Tracker) Status(ctx context.Context, user string) string {
	return t.Statuses(ctx, []string{user})[user]
}

// Statuses returns the overall status of each user.
func (t *Tracker) Statuses(ctx context.Context, users []string) map[string]string {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	pipe := t.rdb.Pipeline()
	live := make([]*redis.StringSliceCmd, len(users))
	statuses := make([]*redis.MapStringStringCmd, len(users))
	for i, u := range users {
		live[i] = pipe.ZRangeByScore(ctx, livev1.PresenceKey(u), &redis.ZRangeBy{Min: now, Max: "+inf"})
		statuses[i] = pipe.HGetAll(ctx, livev1.PresenceStatusKey(u))
	}
	out := make(map[string]string, len(users))
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		t.log.Warn("presence lookup", "error", err)
	}
	for i, u := range users {
		out[u] = Offline
		for _, s := range live[i].Val() {
			switch statuses[i].Val()[s] {
			case Online:
				out[u] = Online
			case Away:
				if out[u] == Offline {
					out[u] = Away
				}
			}
		}
	}
	return out
}

// Run refreshes this connector's sessions until ctx ends, and drops expired
// sessions of any user it touches.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.refresh(ctx)
	}
}

func (t *Tracker) refresh(ctx context.Context) {
	expiry := float64(time.Now().Add(t.ttl).UnixMilli())
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	pipe := t.rdb.Pipeline()
	t.mu.Lock()
	for user, sessions := range t.local {
		for session := range sessions {
			pipe.ZAdd(ctx, livev1.PresenceKey(user), redis.Z{Score: expiry, Member: session})
		}
		pipe.ZRemRangeByScore(ctx, livev1.PresenceKey(user), "-inf", "("+now)
		pipe.Expire(ctx, livev1.PresenceKey(user), 2*t.ttl)
		pipe.Expire(ctx, livev1.PresenceStatusKey(user), 2*t.ttl)
	}
	t.mu.Unlock()
	if _, err := pipe.Exec(ctx); err != nil && ctx.Err() == nil {
		t.log.Warn("presence refresh", "error", err)
	}
}
