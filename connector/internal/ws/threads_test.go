package ws

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// threadHistory records the requests persist gets.
type threadHistory struct {
	noHistory
	got chan *persistv1.HistoryRequest
}

func (h threadHistory) History(_ context.Context, req *persistv1.HistoryRequest, _ ...grpc.CallOption) (*persistv1.HistoryResponse, error) {
	h.got <- req
	return &persistv1.HistoryResponse{}, nil
}

// A reply names its root by id and seq; it is sent like any message of
// the room, with thread_id set. A reply to no message of the room, to a
// reply, to a deleted message or with a seq of another message is refused
// with no_thread, and nothing reaches Kafka.
func TestARepliesRootMustBeAVisibleTopLevelMessageOfTheRoom(t *testing.T) {
	log := &recordingLog{}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Log = log })
	room, ada := ts.newRoomWith(t, 0)
	rootID, gone := ada.sendText(room, "root").str("message_id"), ada.sendText(room, "to delete").str("message_id")

	ada.write(frame{"type": "send", "id": "r1", "room_id": room, "client_msg_id": "r1", "text": "in thread",
		"thread_id": rootID, "seq": 1})
	got := ada.expect("message", func(f frame) bool { return frame(f["message"].(map[string]any)).num("seq") == 3 })["message"].(map[string]any)
	if got["thread_id"] != rootID {
		t.Fatalf("the reply reached the room as %v", got)
	}
	replyID := got["id"].(string)
	ada.write(frame{"type": "delete", "id": "d", "room_id": room, "message_id": gone, "seq": 2})
	ada.expect("ack", func(f frame) bool { return f.str("id") == "d" })

	for name, f := range map[string]frame{
		"no such message":     {"thread_id": uuid.NewString(), "seq": 1},
		"another message":     {"thread_id": rootID, "seq": 2},
		"a reply":             {"thread_id": replyID, "seq": 3},
		"a deleted message":   {"thread_id": gone, "seq": 2},
		"another room's root": {"thread_id": rootID, "seq": 1, "room_id": uuid.NewString()},
	} {
		t.Run(name, func(t *testing.T) {
			id := uuid.NewString()
			send := frame{"type": "send", "id": id, "room_id": room, "client_msg_id": id, "text": "no"}
			for k, v := range f {
				send[k] = v
			}
			n := len(log.rooms())
			ada.write(send)
			e := ada.expect("error", func(f frame) bool { return f.str("id") == id })
			if e.str("code") != "no_thread" || e.str("message") == "" {
				t.Fatalf("got %v, want no_thread", e)
			}
			if len(log.rooms()) != n {
				t.Fatal("a refused reply reached Kafka")
			}
		})
	}
}

// A history frame with thread_id asks persist for that thread's page and
// answers with the thread named.
func TestThreadHistoryAsksPersistForTheThread(t *testing.T) {
	h := threadHistory{got: make(chan *persistv1.HistoryRequest, 1)}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.History = h })
	room, ada := ts.newRoomWith(t, 1)
	thread := uuid.NewString()
	ada.write(frame{"type": "history", "id": "h", "room_id": room, "thread_id": thread, "before_seq": 1, "limit": 20})
	page := ada.expect("history", func(f frame) bool { return f.str("id") == "h" })
	req := <-h.got
	if req.ThreadId != thread || req.RoomId != room || req.BeforeSeq != 1 || req.Limit != 20 || page.str("thread_id") != thread {
		t.Fatalf("persist asked %v, page %v", req, page)
	}
}

// A user's read position in a thread is the server's: a read frame with
// thread_id moves it forward only, every other socket of theirs is told
// at once (another tab, another device), and a socket that subscribes
// later gets the positions with the room's unread counts.
func TestThreadReadPositionsAreKeptAndSharedAcrossSockets(t *testing.T) {
	ts := newTestServer(t, Config{})
	room := uuid.NewString()
	tab, other := ts.dial(t, "ann"), ts.dial(t, "ann")
	for range 5 {
		tab.sendText(room, "hello")
	}
	rootA, rootB := uuid.NewString(), uuid.NewString()
	tab.write(frame{"type": "read", "id": "r1", "room_id": room, "thread_id": rootA, "seq": 5})
	if f := other.expect("thread_read", nil); f.str("room_id") != room || f.str("thread_id") != rootA || f.num("read_seq") != 5 {
		t.Fatalf("the other socket was told %v", f)
	}
	// Backwards moves nothing: the next frame the other socket hears is about B.
	tab.write(frame{"type": "read", "id": "r2", "room_id": room, "thread_id": rootA, "seq": 3})
	tab.write(frame{"type": "read", "id": "r3", "room_id": room, "thread_id": rootB, "seq": 4})
	if f := other.expect("thread_read", nil); f.str("thread_id") != rootB || f.num("read_seq") != 4 {
		t.Fatalf("after a read backwards the other socket was told %v", f)
	}
	// A read of a thread leaves the room's read position alone.
	later := ts.dial(t, "ann")
	later.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": room, "last_seq": 0}}})
	sub := later.expect("subscribed", nil)
	u, _ := sub["unread"].(map[string]any)
	threads, _ := u["threads"].(map[string]any)
	if u["read_seq"] != float64(0) || len(threads) != 2 || threads[rootA] != float64(5) || threads[rootB] != float64(4) {
		t.Fatalf("subscribed with unread %v, want thread positions %s:5 and %s:4 and the room unread", u, rootA, rootB)
	}
	// Someone else's positions are theirs.
	bob := ts.dial(t, "bob")
	bob.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": room, "last_seq": 0}}})
	if u, _ := bob.expect("subscribed", nil)["unread"].(map[string]any); u["threads"] != nil {
		t.Fatalf("bob subscribed with ann's thread positions: %v", u)
	}
	for _, bad := range []frame{
		{"type": "read", "id": "b1", "room_id": room, "thread_id": "not an id", "seq": 1},
		{"type": "read", "id": "b2", "room_id": room, "thread_id": rootA, "seq": 99},
	} {
		tab.write(bad)
		if e := tab.expect("error", func(f frame) bool { return f.str("id") == bad.str("id") }); e.str("code") != "bad_frame" && e.str("code") != "seq_out_of_range" {
			t.Errorf("%v answered %v", bad, e)
		}
	}
}
