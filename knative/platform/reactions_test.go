package platform

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/knative/stores"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// reactionsIn returns the reactions of message id in a history page, as
// "emoji:user,user emoji:user".
func reactionsIn(h frame, id string) string {
	msgs, _ := h["messages"].([]any)
	for _, raw := range msgs {
		m := frame(raw.(map[string]any))
		if m.str("id") != id {
			continue
		}
		var parts []string
		rs, _ := m["reactions"].([]any)
		for _, r := range rs {
			r := frame(r.(map[string]any))
			var users []string
			us, _ := r["user_ids"].([]any)
			for _, u := range us {
				users = append(users, fmt.Sprint(u))
			}
			parts = append(parts, r.str("emoji")+":"+strings.Join(users, ","))
		}
		return strings.Join(parts, " ")
	}
	return "(message not in the page)"
}

// Reactions are live for everyone in the room and kept by persist from
// the event: after the Redis window is gone, history from MongoDB shows
// them. A reaction from outside the room gets an error and is kept nowhere.
func TestReactionsAreLiveAndKept(t *testing.T) {
	second := startConnector(t)
	ada, bob, eve := newUser(t), newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	evesRoom := newRoom(t, eve)
	a := dial(t, plat.url, ada)
	b := dial(t, second.url, bob)
	a.subscribe(room, 0)
	b.subscribe(room, 0)
	ack := a.sendText(room, "ship it?")
	id, seq := ack.str("message_id"), ack.num("seq")
	b.waitMessages(room, 1)

	react := func(c *client, fid, emoji, op string) {
		t.Helper()
		c.write(frame{"type": "react", "id": fid, "room_id": room, "message_id": id, "seq": seq, "emoji": emoji, "op": op})
		c.expect("ack", func(f frame) bool { return f.str("id") == fid })
	}
	told := func(c *client, who user, emoji, op string) {
		t.Helper()
		// The reactor's own frame may come before its ack, and so have been
		// passed over while react waited for the ack.
		f := c.expectOrSeen("reacted", func(f frame) bool {
			return f.str("user_id") == who.id && f.str("emoji") == emoji && f.str("op") == op
		})
		if f.str("room_id") != room || f.str("message_id") != id || f.num("seq") != seq {
			t.Errorf("reacted frame %v, want %s %s by %s", f, op, emoji, who.name)
		}
	}
	react(a, "r1", "👍", "add")
	told(b, ada, "👍", "add") // on another connector
	told(a, ada, "👍", "add")
	react(b, "r2", "👍", "add")
	react(b, "r3", "🎉", "add")
	told(a, bob, "🎉", "add")
	react(a, "r4", "👍", "remove")
	told(b, ada, "👍", "remove")

	// From outside the room: refused, nothing kept.
	e := dial(t, plat.url, eve)
	e.write(frame{"type": "react", "id": "x1", "room_id": room, "message_id": id, "seq": seq, "emoji": "😮", "op": "add"})
	if got := e.expect("error", func(f frame) bool { return f.str("id") == "x1" }); got.str("code") != livev1.CodeNotMember {
		t.Errorf("a reaction from outside the room: %v", got)
	}
	e.write(frame{"type": "react", "id": "x2", "room_id": evesRoom, "message_id": id, "seq": seq, "emoji": "😮", "op": "add"})
	if got := e.expect("error", func(f frame) bool { return f.str("id") == "x2" }); got.str("code") != livev1.CodeNotFound {
		t.Errorf("a reaction naming the message under another room: %v", got)
	}
	b.write(frame{"type": "react", "id": "x3", "room_id": room, "message_id": id, "seq": seq, "emoji": "lol", "op": "add"})
	if got := b.expect("error", func(f frame) bool { return f.str("id") == "x3" }); got.str("code") != livev1.CodeBadFrame {
		t.Errorf("text as a reaction: %v", got)
	}

	wantNow := "👍:" + bob.id + " 🎉:" + bob.id
	history := func(c *client, hid string) frame {
		t.Helper()
		c.write(frame{"type": "history", "id": hid, "room_id": room})
		return c.expect("history", func(f frame) bool { return f.str("id") == hid })
	}
	// The window, which history reads first, has them at once.
	if got := reactionsIn(history(b, "h0"), id); got != wantNow {
		t.Errorf("history from the window: %q, want %q", got, wantNow)
	}

	// Without the window, history comes from MongoDB: a reload shows what
	// persist kept once it has applied the events (in order: ada's 👍 came
	// and went).
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	reload := dial(t, plat.url, ada)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if err := rdb.Del(context.Background(), livev1.HistoryKey(room)).Err(); err != nil {
			t.Fatal(err)
		}
		got := reactionsIn(history(reload, fmt.Sprint("h", i+1)), id)
		if got == wantNow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history from MongoDB shows %q, want %q", got, wantNow)
		}
		time.Sleep(50 * time.Millisecond) // persist works through the Trigger's backlog
	}
	t.Logf("history from the store agrees: %s", wantNow)
}
