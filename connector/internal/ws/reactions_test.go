package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// windowMessage reads a message from the room's history window.
func windowMessage(t *testing.T, rdb redis.UniversalClient, room string, seq int64) eventsv1.Message {
	t.Helper()
	vals, err := rdb.ZRangeArgs(context.Background(), redis.ZRangeArgs{Key: livev1.HistoryKey(room), ByScore: true, Start: seq, Stop: seq}).Result()
	if err != nil || len(vals) != 1 {
		t.Fatalf("window at seq %d: %v %v", seq, vals, err)
	}
	var m eventsv1.Message
	if err := json.Unmarshal([]byte(vals[0]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Members who react at once all count: the window's copy of the message
// is rewritten in a transaction, never from a copy read before another
// reaction landed.
func TestConcurrentReactionsAllReachTheWindowAndTheRoom(t *testing.T) {
	log := &recordingLog{}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Log = log })
	room := uuid.NewString()
	author := ts.dial(t, "author")
	author.subscribe(room)
	ack := author.sendText(room, "react to this")
	id, seq := ack.str("message_id"), ack.num("seq")

	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		c := ts.dial(t, fmt.Sprint("member-", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, emoji := range []string{"👍", "🎉"} {
				c.write(frame{"type": "react", "id": emoji, "room_id": room, "message_id": id, "seq": seq, "emoji": emoji, "op": "add"})
			}
			for _, emoji := range []string{"👍", "🎉"} {
				if a := c.expect("ack", func(f frame) bool { return f.str("id") == emoji }); a.str("message_id") != id || a.num("seq") != seq {
					t.Errorf("ack %v", a)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for range 2 * n {
		f := author.expect("reacted", nil)
		if f.str("room_id") != room || f.str("message_id") != id || f.num("seq") != seq || f.str("op") != "add" {
			t.Fatalf("reacted frame %v", f)
		}
		seen[f.str("emoji")]++
	}
	if seen["👍"] != n || seen["🎉"] != n {
		t.Errorf("the room was told %v, want %d of each", seen, n)
	}
	m := windowMessage(t, ts.rdb, room, seq)
	if len(m.Reactions) != 2 || len(m.Reactions[0].UserIDs) != n || len(m.Reactions[1].UserIDs) != n || m.Text != "react to this" {
		t.Fatalf("the window holds %+v, want %d members on each of 2 emoji", m, n)
	}
	if log.reactions() != 2*n {
		t.Errorf("%d reaction events, want %d", log.reactions(), 2*n)
	}

	// Removing goes the same way; the emoji goes with its last member.
	c := ts.dial(t, "member-0")
	c.write(frame{"type": "react", "id": "r", "room_id": room, "message_id": id, "seq": seq, "emoji": "🎉", "op": "remove"})
	c.expect("ack", func(f frame) bool { return f.str("id") == "r" })
	if f := author.expect("reacted", nil); f.str("op") != "remove" || f.str("user_id") != "member-0" || f.str("emoji") != "🎉" {
		t.Errorf("reacted frame %v", f)
	}
	if m := windowMessage(t, ts.rdb, room, seq); len(m.Reactions[1].UserIDs) != n-1 {
		t.Errorf("after a removal: %+v", m.Reactions)
	}
}

func TestReactionsAreRefusedWithAReasonAndNothingLogged(t *testing.T) {
	log := &recordingLog{}
	ts := newTestServer(t, Config{SendRate: 0.001, SendBurst: 28}, func(d *Deps) { d.Log = log })
	room := uuid.NewString()
	a := ts.dial(t, "ada")
	ack := a.sendText(room, "hello")
	id, seq := ack.str("message_id"), ack.num("seq")
	gone := a.sendText(room, "deleted soon")
	a.write(frame{"type": "delete", "id": "d", "room_id": room, "message_id": gone.str("message_id"), "seq": gone.num("seq")})
	a.expect("ack", func(f frame) bool { return f.str("id") == "d" })

	refused := func(name string, f frame, code string) {
		t.Helper()
		f["id"] = name
		a.write(f)
		if got := a.expect("error", func(g frame) bool { return g.str("id") == name }); got.str("code") != code {
			t.Errorf("%s: %v, want %s", name, got, code)
		}
	}
	react := func(emoji string) frame {
		return frame{"type": "react", "room_id": room, "message_id": id, "seq": seq, "emoji": emoji, "op": "add"}
	}
	refused("text", react("lol"), livev1.CodeBadFrame)
	refused("no op", frame{"type": "react", "room_id": room, "message_id": id, "seq": seq, "emoji": "👍"}, livev1.CodeBadFrame)
	refused("unknown message", frame{"type": "react", "room_id": room, "message_id": uuid.NewString(), "seq": 999, "emoji": "👍", "op": "add"},
		livev1.CodeNotFound)
	refused("deleted", frame{"type": "react", "room_id": room, "message_id": gone.str("message_id"), "seq": gone.num("seq"), "emoji": "👍", "op": "add"},
		livev1.CodeForbidden)
	if n := log.reactions(); n != 0 {
		t.Fatalf("%d reactions logged for refused frames", n)
	}
	for i := range eventsv1.MaxReactionEmojis {
		a.write(frame{"type": "react", "id": fmt.Sprint("e", i), "room_id": room, "message_id": id, "seq": seq,
			"emoji": string(rune(0x1F600 + i)), "op": "add"})
		a.expect("ack", func(f frame) bool { return f.str("id") == fmt.Sprint("e", i) })
	}
	refused("one emoji too many", react("🦀"), livev1.CodeReactionLimit)
	// The send bucket (burst 28) runs dry as for sends: 2 sends, a delete
	// and 23 reactions (refused ones too, as refused sends) are spent, 2
	// more go.
	for range 2 {
		a.write(react(string(rune(0x1F600))))
	}
	refused("too fast", react("😀"), livev1.CodeRateLimited)
	if n := log.reactions(); n != eventsv1.MaxReactionEmojis+2 {
		t.Errorf("%d reactions logged, want %d", n, eventsv1.MaxReactionEmojis+2)
	}
	// Edits spend the same bucket.
	refused("an edit too fast", frame{"type": "edit", "room_id": room, "message_id": id, "seq": seq, "text": "changed"},
		livev1.CodeRateLimited)
}

// reactingLog is a recordingLog during whose append of an edit a member's
// reaction lands in the window, as one may while Kafka takes the edit.
type reactingLog struct {
	recordingLog
	mu     sync.Mutex
	onEdit func()
}

func (l *reactingLog) Append(ctx context.Context, e event.Event) error {
	l.mu.Lock()
	react := l.onEdit
	l.mu.Unlock()
	if e.Type() == eventsv1.TypeMessageEdited && react != nil {
		react()
	}
	return l.recordingLog.Append(ctx, e)
}

// An edit changes the window's copy as it stands: a reaction that landed
// while the edit was appended stays, in the window and in the frame the
// room is shown.
func TestAnEditKeepsAReactionThatLandedMeanwhile(t *testing.T) {
	log := &reactingLog{}
	ts := newTestServer(t, Config{}, func(d *Deps) { d.Log = log })
	room := uuid.NewString()
	author := ts.dial(t, "author")
	author.subscribe(room)
	ack := author.sendText(room, "first words")
	id, seq := ack.str("message_id"), ack.num("seq")
	log.mu.Lock()
	log.onEdit = func() {
		r := eventsv1.MessageReacted{RoomID: room, MessageID: id, Seq: seq, Emoji: "👍", UserID: "member", Op: "add"}
		if err := reactInWindow(context.Background(), ts.rdb, r); err != nil {
			t.Error(err)
		}
	}
	log.mu.Unlock()

	author.write(frame{"type": "edit", "id": "e", "room_id": room, "message_id": id, "seq": seq, "text": "better words"})
	shown := author.expect("edited", nil)["message"].(map[string]any)
	if reactions, _ := shown["reactions"].([]any); shown["text"] != "better words" || len(reactions) != 1 {
		t.Errorf("the room was shown %v, want the edit with the reaction", shown)
	}
	if m := windowMessage(t, ts.rdb, room, seq); m.Text != "better words" || len(m.Reactions) != 1 {
		t.Fatalf("the window holds %+v, want the edit with the reaction", m)
	}
}
