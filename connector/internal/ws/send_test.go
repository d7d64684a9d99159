package ws

import (
	"context"
	"testing"

	"github.com/google/uuid"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// A send retried with its client_msg_id after its ack gets the original
// ack again (same message, same seq), read back from the send record, and
// no second message.
func TestARetriedSendGetsTheOriginalAck(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := ts.dial(t, "ada")
	room := "retry-" + uuid.NewString()
	first := c.sendText(room, "once")
	id := uuid.NewString()
	c.write(frame{"type": "send", "id": id, "room_id": room, "client_msg_id": first.str("client_msg_id"), "text": "once"})
	again := c.expect("ack", func(f frame) bool { return f.str("id") == id })
	if again.str("message_id") != first.str("message_id") || again.num("seq") != first.num("seq") {
		t.Fatalf("retry acked %v, first ack %v", again, first)
	}
	next := c.sendText(room, "twice")
	if next.num("seq") != first.num("seq")+1 {
		t.Fatalf("the next message got seq %d after %d: the retry took a seq", next.num("seq"), first.num("seq"))
	}
}

// blockedBy makes every user a member of every room, blocked in blockedRoom
// (a 1:1 room whose other member blocked them).
type blockedBy struct {
	everyoneIsMember
	blockedRoom string
}

func (b blockedBy) Blocked(_ context.Context, roomID, _ string) (bool, error) {
	return roomID == b.blockedRoom, nil
}

// A send into a 1:1 room whose other member blocked the sender is refused
// with a "blocked" error frame, and nothing reaches the log; other rooms
// are unaffected.
func TestABlockedSenderIsRefused(t *testing.T) {
	dm, other := "dm-"+uuid.NewString(), "room-"+uuid.NewString()
	log := &recordingLog{}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Members = blockedBy{blockedRoom: dm}; d.Log = log })
	c := ts.dial(t, "bob")
	id := uuid.NewString()
	c.write(frame{"type": "send", "id": id, "room_id": dm, "client_msg_id": uuid.NewString(), "text": "hello?"})
	refusal := c.expect("error", func(f frame) bool { return f.str("id") == id })
	if refusal.str("code") != livev1.CodeBlocked || refusal.str("room_id") != dm {
		t.Fatalf("refusal %v", refusal)
	}
	c.sendText(other, "elsewhere") // acked: the block is about one room
	if rooms := log.rooms(); len(rooms) != 1 || rooms[0] != other {
		t.Fatalf("events appended for rooms %v, want only %s", rooms, other)
	}
}
