package ws

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// threadReadScript moves a user's read position in a thread forward
// (KEYS[1] their livev1.ThreadReadsKey, ARGV[1] the root's id, ARGV[2] the
// last reply seq read) and keeps the ARGV[3] highest positions; it returns
// 1 when the position moved.
var threadReadScript = redis.NewScript(`
local cur = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= cur then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
return 1`)

// readThread moves the reader's position in a thread (a read frame with
// thread_id) and tells every socket of theirs, on any connector, so
// reading a thread in one tab or on one device clears its marker in the
// others. A thread's unread state is its root's thread.last_reply_seq
// against this position: the root's summary, which every copy of the
// root carries, says when replies come, so nothing else is kept per
// reply. The root is not looked up: a position for an id that is no
// root of the room is never shown against anything, and the set is
// bounded.
func (s *session) readThread(ctx context.Context, f livev1.Frame) {
	user := s.identity().UserID
	moved, err := threadReadScript.Run(ctx, s.srv.rdb, []string{livev1.ThreadReadsKey(f.RoomID, user)},
		f.ThreadID, f.Seq, livev1.ThreadReadsKept).Int()
	if err != nil {
		s.unavailable(f.ID, fmt.Errorf("read thread %s in %s: %w", f.ThreadID, f.RoomID, err))
		return
	}
	if moved == 0 {
		return
	}
	frame, _ := json.Marshal(livev1.ThreadReadFrame{Type: livev1.TypeThreadRead, RoomID: f.RoomID, ThreadID: f.ThreadID, ReadSeq: f.Seq})
	if err := s.srv.rdb.SPublish(ctx, livev1.UserChannel(user), frame).Err(); err != nil {
		s.srv.logger.Warn("other sockets keep the thread marked until they resubscribe", "error", err)
	}
}
