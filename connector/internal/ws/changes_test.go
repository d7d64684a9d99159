package ws

import (
	"testing"

	"github.com/google/uuid"
)

// A socket that resumes a room from its last seq gets the messages up to
// that seq that changed while it was away (edited, deleted, reacted to),
// as they are now, in changed frames; one that resumes from after the
// changes gets none of them again.
func TestResumingReplaysChangesMissedWhileAway(t *testing.T) {
	ts := newTestServer(t, Config{})
	room := uuid.NewString()
	away := ts.dial(t, "ann")
	away.subscribe(room)
	edited := away.sendText(room, "first")
	deleted := away.sendText(room, "second")
	reacted := away.sendText(room, "third")
	untouched := away.sendText(room, "fourth")
	last := untouched.num("seq")
	away.conn.Close()

	ann, bob := ts.dial(t, "ann"), ts.dial(t, "bob")
	ann.write(frame{"type": "edit", "id": "e", "room_id": room, "message_id": edited.str("message_id"), "seq": edited.num("seq"), "text": "first!"})
	ann.expect("ack", func(f frame) bool { return f.str("id") == "e" })
	ann.write(frame{"type": "delete", "id": "d", "room_id": room, "message_id": deleted.str("message_id"), "seq": deleted.num("seq")})
	ann.expect("ack", func(f frame) bool { return f.str("id") == "d" })
	bob.write(frame{"type": "react", "id": "r", "room_id": room, "message_id": reacted.str("message_id"), "seq": reacted.num("seq"), "emoji": "🎉", "op": "add"})
	bob.expect("ack", func(f frame) bool { return f.str("id") == "r" })

	back := ts.dial(t, "ann")
	back.write(frame{"type": "subscribe", "id": "s2", "rooms": []frame{{"room_id": room, "last_seq": last}}})
	back.expect("subscribed", nil)
	got := map[int64]map[string]any{}
	for range 3 {
		f := back.expect("changed", nil)
		m := f["message"].(map[string]any)
		if f.str("room_id") != room {
			t.Fatalf("changed frame %v", f)
		}
		got[msgSeq(f)] = m
	}
	if m := got[edited.num("seq")]; m == nil || m["text"] != "first!" || m["edited_at"] == nil {
		t.Errorf("the edited message came back as %v", m)
	}
	if m := got[deleted.num("seq")]; m == nil || m["deleted"] != true || m["text"] != "" {
		t.Errorf("the deleted message came back as %v", m)
	}
	if m := got[reacted.num("seq")]; m == nil || len(m["reactions"].([]any)) != 1 {
		t.Errorf("the message reacted to came back as %v", m)
	}
	// Live from here: the next message is the next frame of the room.
	next := ann.sendText(room, "fifth")
	if f := back.next(t); f.str("type") != "message" || msgSeq(f) != next.num("seq") {
		t.Errorf("after the changes came %v, want the message of seq %d", f, next.num("seq"))
	}

	// A socket that was there for the changes gets none of them again.
	late := ts.dial(t, "bob")
	late.write(frame{"type": "subscribe", "id": "s3", "rooms": []frame{{"room_id": room, "last_seq": next.num("seq")}}})
	late.expect("subscribed", nil)
	again := ann.sendText(room, "sixth")
	if f := late.next(t); f.str("type") != "message" || msgSeq(f) != again.num("seq") {
		t.Errorf("a socket resuming after the changes got %v first", f)
	}
}

// msgSeq is the seq of a frame's message.
func msgSeq(f frame) int64 {
	m, _ := f["message"].(map[string]any)
	n, _ := m["seq"].(float64)
	return int64(n)
}

// next is the socket's next frame, of any type.
func (c *testClient) next(t *testing.T) frame {
	t.Helper()
	f, ok := <-c.frames
	if !ok {
		t.Fatal("socket closed")
	}
	return f
}
