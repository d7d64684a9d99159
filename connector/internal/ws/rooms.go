package ws

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/seqwindow"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// roomState is a subscribed room: the seqs delivered recently (so a late
// message is delivered once, and a replayed one not again), and live frames
// held while history is replayed. Frames without a seq (edits, reactions,
// moderation, typing) are held too: one that changes a message must come
// after the replay's copy of it, which may be older.
type roomState struct {
	seqwindow.Window
	catchingUp bool
	held       []heldFrame
}

type heldFrame struct {
	seq   int64
	frame []byte
}

// RoomLeft stops a room the user left (or was removed from), then passes
// the membership frame on. It is handled in order with the socket's
// frames, so a subscribe to the room already being handled cannot outlive
// it; it skips the inbox's bound, as the user feed must not wait on one
// socket, and membership changes are rare.
func (s *session) RoomLeft(roomID string, frame []byte) {
	s.imu.Lock()
	defer s.imu.Unlock()
	if s.isClosing() {
		return
	}
	s.inbox = append(s.inbox, inbound{left: &leftRoom{roomID: roomID, frame: frame}})
	s.startHandlingLocked(context.Background()) // as every session's (see ServeHTTP)
}

// Deliver implements hub.Subscriber.
func (s *session) Deliver(roomID string, seq int64, frame []byte) {
	s.mu.Lock()
	rs, ok := s.rooms.get(roomID)
	if !ok {
		s.mu.Unlock()
		return
	}
	if rs.catchingUp {
		rs.held = append(rs.held, heldFrame{seq, frame})
		s.mu.Unlock()
		return
	}
	if seq > 0 && !rs.Fresh(seq) {
		s.mu.Unlock()
		return // already delivered (history replay overlap, re-publish)
	}
	s.mu.Unlock()
	s.queueFrame(frame, false)
}

// Resync implements hub.Subscriber: after a Redis reconnect, replay from
// history what this socket may have missed (de-duplicated by seq).
func (s *session) Resync(roomID string) {
	s.mu.Lock()
	rs, ok := s.rooms.get(roomID)
	if !ok || rs.catchingUp {
		s.mu.Unlock()
		return
	}
	rs.catchingUp = true
	s.mu.Unlock()
	s.sends.Add(1)
	go func() {
		defer s.sends.Done()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		s.catchUp(ctx, "", roomID, rs, 0) // what was missed lies beyond the hub's frontier
	}()
}

// leaveRoom stops delivering a room to this socket.
func (s *session) leaveRoom(roomID string) {
	s.mu.Lock()
	ok := s.rooms.remove(roomID)
	s.mu.Unlock()
	if ok {
		s.srv.hub.Leave(roomID, s)
	}
}

// subscribe joins rooms; with last_seq > 0 it first replays what the
// client missed (history), holding live frames back meanwhile, so the
// client gets every message after last_seq exactly once, in order.
func (s *session) subscribe(ctx context.Context, f livev1.Frame) {
	for _, c := range f.Rooms {
		if _, ok := s.member(ctx, f, c.RoomID); !ok || !s.inRange(ctx, f, c.RoomID, "last_seq", c.LastSeq) {
			continue
		}
		// Live frames are held from the moment of joining until the cursor
		// is settled (and history replayed), so none is lost or doubled.
		s.mu.Lock()
		rs := &roomState{Window: seqwindow.After(c.LastSeq), catchingUp: true}
		s.rooms.set(c.RoomID, rs)
		s.mu.Unlock()
		seq, err := s.srv.hub.Join(ctx, c.RoomID, s)
		if err != nil {
			s.mu.Lock()
			s.rooms.remove(c.RoomID)
			s.mu.Unlock()
			s.unavailableIn(f.ID, c.RoomID, err)
			continue
		}
		sub := livev1.SubscribedFrame{Type: livev1.TypeSubscribed, ID: f.ID, RoomID: c.RoomID, Seq: seq}
		if counts, _, err := unread(ctx, s.srv.rdb, c.RoomID, s.identity().UserID, 0, true); err == nil {
			sub.Unread = &counts
		} else {
			s.srv.logger.Warn("subscribed without unread counts", "error", err) // the room itself works
		}
		s.reply(sub)
		if c.LastSeq == 0 {
			// A new subscription starts now: everything after seq is live.
			s.mu.Lock()
			rs.Advance(seq)
			s.releaseHeld(rs)
			s.mu.Unlock()
			continue
		}
		// History stops at the hub's frontier: later seqs come from the hub
		// (held until now), in order even if some were still in flight,
		// where the history window would have had a hole for them.
		s.catchUp(ctx, f.ID, c.RoomID, rs, s.srv.hub.Frontier(c.RoomID))
	}
}

// catchUp replays history after rs.Last() (below until, when not zero) and
// the messages up to it that changed since (see replayChanges), then
// releases the live frames held meanwhile.
func (s *session) catchUp(ctx context.Context, frameID, roomID string, rs *roomState, until int64) {
	s.mu.Lock()
	after := rs.Last()
	s.mu.Unlock()
	if err := s.replayChanges(ctx, roomID, after); err != nil {
		s.unavailableIn(frameID, roomID, err) // the client subscribes again from the same seq
	}
	for {
		resp, err := s.srv.history.History(ctx, &persistv1.HistoryRequest{RoomId: roomID, AfterSeq: after, Limit: livev1.MaxHistory})
		if err != nil {
			// Release what was held; the client subscribes again from
			// the same seq to get what it missed.
			s.unavailableIn(frameID, roomID, err)
			break
		}
		s.mu.Lock()
		reached := false
		for _, raw := range resp.Messages {
			seq := eventsv1.SeqOf(raw)
			if until > 0 && seq >= until {
				reached = true
				break
			}
			if rs.Fresh(seq) {
				s.Enqueue(messageFrame(roomID, raw))
			}
			after = seq
		}
		s.mu.Unlock()
		if reached || !resp.More || len(resp.Messages) == 0 {
			break
		}
	}
	s.mu.Lock()
	s.releaseHeld(rs)
	s.mu.Unlock()
}

var changedSince = redis.NewScript(livev1.ChangedSince)

// replayChanges sends, as changed frames, the messages at or below the
// client's last seq that changed (edited, deleted, hidden, restored,
// reacted to, replied to) since it had that seq: their live frames went
// while it was away. Messages after it come whole from the history
// replay. Only changes to messages the room's window holds are logged
// (livev1.ChangesKey).
func (s *session) replayChanges(ctx context.Context, roomID string, last int64) error {
	if last == 0 {
		return nil
	}
	msgs, err := changedSince.Run(ctx, s.srv.rdb, []string{livev1.ChangesKey(roomID), livev1.HistoryKey(roomID)}, last).StringSlice()
	if err != nil {
		return fmt.Errorf("changes in %s since %d: %w", roomID, last, err)
	}
	for _, m := range msgs {
		b, _ := json.Marshal(livev1.MessageFrame{Type: livev1.TypeChanged, RoomID: roomID, Message: json.RawMessage(m)})
		s.Enqueue(b)
	}
	return nil
}

// releaseHeld delivers the live frames held during catch-up. Called with s.mu held.
func (s *session) releaseHeld(rs *roomState) {
	for _, h := range rs.held {
		if h.seq == 0 || rs.Fresh(h.seq) {
			s.Enqueue(h.frame)
		}
	}
	rs.held, rs.catchingUp = nil, false
}

func messageFrame(roomID string, msg json.RawMessage) []byte {
	b, _ := json.Marshal(livev1.MessageFrame{Type: livev1.TypeMessage, RoomID: roomID, Message: msg})
	return b
}
