package ws

import (
	"context"
	"math"
	"strconv"
	"testing"

	"github.com/google/uuid"
)

// newRoomWith returns a room with n messages sent by a socket of "ada"
// that is subscribed to it.
func (ts *testServer) newRoomWith(t *testing.T, n int) (string, *testClient) {
	t.Helper()
	room := uuid.NewString()
	ada := ts.dial(t, "ada")
	ada.subscribe(room)
	for i := range n {
		if ack := ada.sendText(room, "m"+strconv.Itoa(i)); ack.num("seq") != int64(i+1) {
			t.Fatalf("ack %v, want seq %d", ack, i+1)
		}
	}
	return room, ada
}

func expectOutOfRange(t *testing.T, c *testClient, id, room string) {
	t.Helper()
	e := c.expect("error", nil)
	if e.str("code") != "seq_out_of_range" || e.str("id") != id || e.str("room_id") != room || e.str("message") == "" {
		t.Fatalf("got %v, want seq_out_of_range for frame %s in room %s", e, id, room)
	}
}

func TestResumeFromBeyondTheRoomsHeadIsRefused(t *testing.T) {
	ts := newTestServer(t, Config{})
	room, ada := ts.newRoomWith(t, 3)
	bob := ts.dial(t, "bob")
	bob.write(frame{"type": "subscribe", "id": "far", "rooms": []frame{{"room_id": room, "last_seq": int64(math.MaxInt64)}}})
	expectOutOfRange(t, bob, "far", room)
	// The head itself is a seq the client may have seen a moment ago.
	bob.write(frame{"type": "subscribe", "id": "head", "rooms": []frame{{"room_id": room, "last_seq": 3}}})
	if f := bob.expect("subscribed", nil); f.str("id") != "head" || f.num("seq") != 3 {
		t.Fatalf("resume from the head: %v", f)
	}
	ada.sendText(room, "live")
	if m := bob.expect("message", nil); m["message"].(map[string]any)["seq"] != float64(4) {
		t.Fatalf("live message after resuming: %v", m)
	}
}

func TestReadReceiptBeyondTheRoomsHeadIsRefusedAndPinsNothing(t *testing.T) {
	ts := newTestServer(t, Config{})
	room, ada := ts.newRoomWith(t, 2)
	ada.write(frame{"type": "read", "id": "far", "room_id": room, "seq": int64(math.MaxInt64)})
	expectOutOfRange(t, ada, "far", room)
	ada.write(frame{"type": "read", "id": "near", "room_id": room, "seq": 2})
	if r := ada.expect("receipt", nil); r.num("seq") != 2 || r.str("user_id") != "ada" {
		t.Fatalf("receipt %v, want ada at 2", r)
	}
	got, err := ts.rdb.HGet(context.Background(), "receipts:{"+room+"}", "ada").Result()
	if err != nil || got != "2" {
		t.Fatalf("stored receipt %q (%v), want 2", got, err)
	}
}

func TestHistoryCursorBeyondTheRoomsHeadIsRefused(t *testing.T) {
	ts := newTestServer(t, Config{})
	room, ada := ts.newRoomWith(t, 2)
	ada.write(frame{"type": "history", "id": "far", "room_id": room, "before_seq": int64(math.MaxInt64)})
	expectOutOfRange(t, ada, "far", room)
	ada.write(frame{"type": "history", "id": "near", "room_id": room, "before_seq": 2})
	if h := ada.expect("history", nil); h.str("id") != "near" {
		t.Fatalf("history page %v", h)
	}
	// A room nobody has sent to yet has no seq to name.
	empty := uuid.NewString()
	ada.write(frame{"type": "history", "id": "empty", "room_id": empty, "before_seq": 1})
	expectOutOfRange(t, ada, "empty", empty)
}
