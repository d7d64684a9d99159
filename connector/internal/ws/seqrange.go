package ws

import (
	"context"
	"fmt"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// inRange checks a seq a client names for a room (a resume cursor, a read
// receipt, a history cursor) against the room's head, and answers
// seq_out_of_range or unavailable itself. The head is read after the frame
// arrived, and a seq is taken before its message reaches anyone, so a seq
// the client has seen is never above it. 0 means "none" and always passes.
func (s *session) inRange(ctx context.Context, f livev1.Frame, roomID, field string, seq int64) bool {
	if seq == 0 {
		return true
	}
	head, covered, err := s.srv.seqs.Covers(ctx, roomID, seq)
	if err != nil {
		s.unavailableIn(f.ID, roomID, err)
		return false
	}
	if seq < 0 || !covered {
		s.reply(livev1.ErrorFrame{Type: livev1.TypeError, ID: f.ID, Code: livev1.CodeSeqOutOfRange, RoomID: roomID,
			Message: fmt.Sprintf("%s %d is outside this room's seqs (0 to %d)", field, seq, head)})
		return false
	}
	return true
}
