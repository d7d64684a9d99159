package ws

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// A send retried with its client_msg_id after its ack gets the original
// ack again (same message, same seq), read back from the send record, and
// no second message. The record of a delivered send keeps the message's
// id, not the message: it lives for a day, and a retry needs no more.
func TestARetriedSendGetsTheOriginalAck(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := ts.dial(t, "ada")
	room := uuid.NewString()
	text := strings.Repeat("once ", 200)
	first := c.sendText(room, text)
	rec, err := ts.rdb.Get(context.Background(), livev1.DedupKey(room, "ada", first.str("client_msg_id"))).Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rec, "once") || len(rec) > 128 {
		t.Fatalf("a delivered send's record holds %d bytes, the message's text among them: %s", len(rec), rec)
	}
	id := uuid.NewString()
	c.write(frame{"type": "send", "id": id, "room_id": room, "client_msg_id": first.str("client_msg_id"), "text": text})
	again := c.expect("ack", func(f frame) bool { return f.str("id") == id })
	if again.str("message_id") != first.str("message_id") || again.num("seq") != first.num("seq") {
		t.Fatalf("retry acked %v, first ack %v", again, first)
	}
	next := c.sendText(room, "twice")
	if next.num("seq") != first.num("seq")+1 {
		t.Fatalf("the next message got seq %d after %d: the retry took a seq", next.num("seq"), first.num("seq"))
	}
}

// blockedBy makes every user a member of every room, and user (anyone
// when empty) blocked in blockedRoom (a 1:1 room whose other member blocked
// them).
type blockedBy struct {
	everyoneIsMember
	blockedRoom string
	user        string
}

func (b blockedBy) Blocked(_ context.Context, roomID, user string) (bool, error) {
	return roomID == b.blockedRoom && (b.user == "" || b.user == user), nil
}

// A send into a 1:1 room whose other member blocked the sender is refused
// with a "blocked" error frame, and nothing reaches the log; other rooms
// are unaffected.
func TestABlockedSenderIsRefused(t *testing.T) {
	dm, other := uuid.NewString(), uuid.NewString()
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

// directRoom makes every user a member of every room, and room a direct one.
type directRoom struct {
	everyoneIsMember
	room string
}

func (d directRoom) Kind(_ context.Context, roomID, _ string) (string, error) {
	if roomID == d.room {
		return authv1.RoomKindDirect, nil
	}
	return authv1.RoomKindPublic, nil
}

// A sent message's event names the kind of room auth said it is, which
// persist needs to mark a stored message quiet (eventsv1.Quiet).
func TestASentEventNamesTheRoomsKind(t *testing.T) {
	dm, public := uuid.NewString(), uuid.NewString()
	log := &recordingLog{}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Members = directRoom{room: dm}; d.Log = log })
	c := ts.dial(t, "bob")
	c.sendText(dm, "hi")
	c.sendText(public, "hello all")
	log.mu.Lock()
	defer log.mu.Unlock()
	kinds := map[string]any{}
	for _, e := range log.events {
		kinds[e.Extensions()["partitionkey"].(string)] = e.Extensions()[eventsv1.ExtRoomKind]
	}
	if kinds[dm] != authv1.RoomKindDirect || kinds[public] != authv1.RoomKindPublic {
		t.Fatalf("room kinds on the sent events %v, want %s direct and %s public", kinds, dm, public)
	}
}

// A blocked user's edits, reactions and typing in the 1:1 room are refused
// like their sends, and the one who blocked them sees none of it; they may
// still delete what they wrote before the block.
func TestABlockedUserCannotEditReactOrType(t *testing.T) {
	dm := uuid.NewString()
	log := &recordingLog{}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Members = blockedBy{blockedRoom: dm, user: "bob"}; d.Log = log })
	ann, bob := ts.dial(t, "ann"), ts.dial(t, "bob")
	ann.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": dm, "last_seq": 0}}})
	ann.expect("subscribed", nil)
	// bob wrote this before ann blocked him; ann wrote the other.
	mine := ann.sendText(dm, "from ann")
	before := eventsv1.Message{ID: uuid.NewString(), RoomID: dm, Seq: mine.num("seq") + 1000, UserID: "bob", Username: "bob",
		Text: "from before the block", CreatedAt: time.Now().UTC()}
	raw, _ := json.Marshal(before)
	if err := ts.rdb.ZAdd(context.Background(), livev1.HistoryKey(dm), redis.Z{Score: float64(before.Seq), Member: raw}).Err(); err != nil {
		t.Fatal(err)
	}
	events := len(log.rooms())

	for _, f := range []frame{
		{"type": "edit", "id": "e", "room_id": dm, "message_id": before.ID, "seq": before.Seq, "text": "changed"},
		{"type": "react", "id": "r", "room_id": dm, "message_id": mine.str("message_id"), "seq": mine.num("seq"), "emoji": "👍", "op": "add"},
		{"type": "typing", "id": "t", "room_id": dm, "state": "start"},
	} {
		bob.write(f)
		refusal := bob.expect("error", func(e frame) bool { return e.str("id") == f.str("id") })
		if refusal.str("code") != livev1.CodeBlocked || refusal.str("room_id") != dm {
			t.Errorf("%s refused with %v, want code blocked", f.str("type"), refusal)
		}
	}
	if n := len(log.rooms()); n != events {
		t.Errorf("%d events appended for refused frames", n-events)
	}
	if m := windowMessage(t, ts.rdb, dm, before.Seq); m.Text != before.Text || m.EditedAt != (time.Time{}) {
		t.Errorf("the window holds %+v after a refused edit", m)
	}
	// Someone else's typing is the first ann hears: bob's never reached the room.
	ts.dial(t, "cy").write(frame{"type": "typing", "room_id": dm, "state": "start"})
	if f := ann.expect("typing", nil); f.str("user_id") != "cy" {
		t.Errorf("ann heard %v", f)
	}
	bob.write(frame{"type": "delete", "id": "d", "room_id": dm, "message_id": before.ID, "seq": before.Seq})
	bob.expect("ack", func(f frame) bool { return f.str("id") == "d" })
	if f := ann.expect("deleted", nil); f["message"].(map[string]any)["id"] != before.ID {
		t.Errorf("deleted frame %v", f)
	}
}

// A block that the connector's cached answer from auth does not know yet
// (its event is still on the way) refuses the send all the same, from the
// room's livev1.BlockedKey, which the connector that answered the block
// wrote before answering: no seq is taken, nothing reaches the log. The
// one who blocked is not refused, and lifting it lets the sender in.
func TestASendRightAfterABlockIsRefused(t *testing.T) {
	dm := uuid.NewString()
	log := &recordingLog{}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Log = log }) // auth's answer: nobody blocked
	ctx := context.Background()
	ann, bob := ts.dial(t, "ann"), ts.dial(t, "bob")
	first := ann.sendText(dm, "before")
	if err := ts.rdb.SAdd(ctx, livev1.BlockedKey(dm), "bob").Err(); err != nil {
		t.Fatal(err)
	}
	events := len(log.rooms())
	id := uuid.NewString()
	bob.write(frame{"type": "send", "id": id, "room_id": dm, "client_msg_id": id, "text": "right after"})
	if f := bob.expect("error", func(f frame) bool { return f.str("id") == id }); f.str("code") != livev1.CodeBlocked || f.str("room_id") != dm {
		t.Fatalf("bob's send right after the block: %v", f)
	}
	if n := len(log.rooms()); n != events {
		t.Fatalf("%d events appended for a refused send", n-events)
	}
	second := ann.sendText(dm, "ann may still write")
	if err := ts.rdb.SRem(ctx, livev1.BlockedKey(dm), "bob").Err(); err != nil {
		t.Fatal(err)
	}
	third := bob.sendText(dm, "after the unblock")
	if second.num("seq") != first.num("seq")+1 || third.num("seq") != second.num("seq")+1 {
		t.Errorf("seqs %d, %d, %d: the refused send took one", first.num("seq"), second.num("seq"), third.num("seq"))
	}
}

// A user's typing frames beyond typingBurst are dropped: each is told to
// every member of the room, and a client sends one every few seconds.
func TestTypingBeyondTheUsersBurstIsDropped(t *testing.T) {
	ts := newTestServer(t, Config{})
	room := uuid.NewString()
	ann, bob := ts.dial(t, "ann"), ts.dial(t, "bob")
	for _, c := range []*testClient{ann, bob} {
		c.subscribe(room)
	}
	for range 3 * typingBurst {
		bob.write(frame{"type": "typing", "room_id": room, "state": "start"})
	}
	// bob's message follows his typing into the room: what ann heard
	// before it is all that was told.
	sent := bob.sendText(room, "done typing")
	heard := 0
	for {
		f := ann.next(t)
		if f.str("type") == "typing" {
			heard++
		}
		if f.str("type") == "message" && msgSeq(f) == sent.num("seq") {
			break
		}
	}
	if heard < 1 || heard > typingBurst+1 {
		t.Errorf("ann heard %d of bob's %d typing frames, want at most the burst of %d (and a refill)", heard, 3*typingBurst, typingBurst)
	}
}
