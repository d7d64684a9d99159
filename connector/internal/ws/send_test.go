package ws

import (
	"testing"

	"github.com/google/uuid"
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
