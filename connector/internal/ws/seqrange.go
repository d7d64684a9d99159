package ws

import (
	"context"
	"fmt"

	"github.com/parley-chat/parley/connector/internal/protocol"
)

// roomHead is the highest seq handed out in a room (0 before the first).
// Every read of the seq authority outside the send path goes through here,
// so a change of its representation changes one function.
func (srv *Server) roomHead(ctx context.Context, roomID string) (int64, error) {
	return srv.seqs.Head(ctx, roomID)
}

// inRange checks a seq a client names for a room (a resume cursor, a read
// receipt, a history cursor) against the room's head, and answers
// seq_out_of_range or unavailable itself. The head is read after the frame
// arrived, and a seq is taken before its message reaches anyone, so a seq
// the client has seen is never above it. 0 means "none" and always passes.
func (s *session) inRange(ctx context.Context, f protocol.Frame, roomID, field string, seq int64) bool {
	if seq == 0 {
		return true
	}
	head, err := s.srv.roomHead(ctx, roomID)
	if err != nil {
		s.unavailableIn(f.ID, roomID, err)
		return false
	}
	if seq < 0 || seq > head {
		s.reply(protocol.ErrorFrame{Type: protocol.TypeError, ID: f.ID, Code: protocol.CodeSeqOutOfRange, RoomID: roomID,
			Message: fmt.Sprintf("%s %d is outside this room's seqs (0 to %d)", field, seq, head)})
		return false
	}
	return true
}
