package ws

import (
	"context"
	"errors"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// threadRoot checks that a reply's thread_id names a visible top-level
// message of the room (f.Seq is the root's seq, so the window usually
// answers) and answers no_thread itself otherwise: nothing is sent.
// Replies are then ordinary messages of the room, with thread_id set;
// persist counts them on the root when it stores them.
func (s *session) threadRoot(ctx context.Context, f livev1.Frame) bool {
	root, err := s.lookup(ctx, f.RoomID, f.ThreadID, f.Seq)
	if errors.Is(err, errNoMessage) {
		s.sendError(f.ID, livev1.CodeNoThread, "no such message in this room to reply to")
		return false
	}
	if err != nil {
		s.unavailable(f.ID, err)
		return false
	}
	if root.ID != f.ThreadID || root.Seq != f.Seq {
		s.sendError(f.ID, livev1.CodeNoThread, "thread_id and seq name different messages")
		return false
	}
	if root.ThreadID != "" || root.Deleted || root.Hidden {
		s.sendError(f.ID, livev1.CodeNoThread, "you can only reply to a visible message that is not itself a reply")
		return false
	}
	return true
}
