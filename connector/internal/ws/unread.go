package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// unreadScript moves a user's read position forward (ARGV[3], when above
// it; 0 moves nothing) and counts what they have not read, in one round
// trip: KEYS are the room's receipts, history window, the user's
// livev1.MentionsKey and livev1.ThreadReadsKey (one hash slot), ARGV[1]
// the user, ARGV[2] the window's size, ARGV[4] "1" to return the user's
// thread read positions too. Mentions at or below the position are
// dropped as it moves.
//
// Messages are tested with plain substring searches instead of decoding
// them: in the compact JSON persist and the connector write, a quote
// inside a string value is escaped, so `"user_id":"<id>"` or
// `"deleted":true` can only be the field itself, never text someone typed.
//
// Returns {raised, read position, messages, more, up to, {mention seqs},
// mentions the move passed, {thread, position, …}}.
var unreadScript = redis.NewScript(`
local read = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local raised, passed = 0, 0
local to = tonumber(ARGV[3])
if to > read then
  redis.call('HSET', KEYS[1], ARGV[1], to)
  passed = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', to)
  read, raised = to, 1
end
local mine = '"user_id":"' .. ARGV[1] .. '"'
local n = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. read, '+inf')) do
  if not (string.find(m, mine, 1, true) or string.find(m, '"deleted":true', 1, true) or string.find(m, '"hidden":true', 1, true)) then
    n = n + 1
  end
end
local upto, more = read, 0
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if top[2] and tonumber(top[2]) > upto then upto = tonumber(top[2]) end
local low = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if low[2] and tonumber(low[2]) > read + 1 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then more = 1 end
local threads = {}
if ARGV[4] == '1' then threads = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES') end
return {raised, read, n, more, upto, redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. read, '+inf'), passed, threads}`)

// readMove is what moving a read position did.
type readMove struct {
	raised         bool  // it moved forward
	mentionsPassed int64 // unread mentions it moved past
}

// unread counts what user has not read in a room, first moving their read
// position up to readTo if that is forward (0: only count); withThreads
// adds their read positions in the room's threads.
func unread(ctx context.Context, rdb redis.UniversalClient, roomID, user string, readTo int64, withThreads bool) (u livev1.Unread, moved readMove, err error) {
	keys := []string{livev1.ReceiptsKey(roomID), livev1.HistoryKey(roomID), livev1.MentionsKey(roomID, user), livev1.ThreadReadsKey(roomID, user)}
	flag := "0"
	if withThreads {
		flag = "1"
	}
	v, err := unreadScript.Run(ctx, rdb, keys, user, livev1.HistoryWindow, readTo, flag).Slice()
	if err != nil {
		return u, moved, fmt.Errorf("unread of %s in %s: %w", user, roomID, err)
	}
	var n [5]int64
	var mentions, threads []any
	if len(v) == 8 {
		threads, _ = v[7].([]any)
	}
	if len(v) >= 7 {
		mentions, _ = v[5].([]any)
		moved.mentionsPassed, _ = v[6].(int64)
		for i := range n {
			n[i], _ = v[i].(int64)
		}
	}
	u = livev1.Unread{ReadSeq: n[1], Messages: n[2], More: n[3] == 1, UpTo: n[4], Mentions: make([]int64, 0, len(mentions))}
	for _, m := range mentions {
		s, _ := m.(string)
		seq, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return u, moved, fmt.Errorf("unread of %s in %s: mention seq %q: %w", user, roomID, s, err)
		}
		u.Mentions = append(u.Mentions, seq)
	}
	for i := 0; i+1 < len(threads); i += 2 {
		root, _ := threads[i].(string)
		pos, _ := threads[i+1].(string)
		seq, err := strconv.ParseInt(pos, 10, 64)
		if err != nil {
			return u, moved, fmt.Errorf("unread of %s in %s: thread %s position %q: %w", user, roomID, root, pos, err)
		}
		if u.Threads == nil {
			u.Threads = make(map[string]int64, len(threads)/2)
		}
		u.Threads[root] = seq
	}
	moved.raised = n[0] == 1
	return u, moved, nil
}

// tellUnread sends a user's new counts for a room to all their sockets,
// on every connector (through their livev1.UserChannel), so a read in
// one tab or device clears the badge in the others.
func tellUnread(ctx context.Context, rdb redis.UniversalClient, roomID, user string, u livev1.Unread) error {
	frame, _ := json.Marshal(livev1.UnreadFrame{Type: livev1.TypeUnread, RoomID: roomID, Unread: u})
	if err := rdb.SPublish(ctx, livev1.UserChannel(user), frame).Err(); err != nil {
		return fmt.Errorf("unread of %s in %s: publish: %w", user, roomID, err)
	}
	return nil
}
