package platform

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// A thread end to end: replies are sent like messages with thread_id;
// persist counts them on the root and tells the room (a thread frame, on
// every connector), the root's author is notified, history shows the
// root's summary and pages the thread. A reply into a room one is not in,
// or to a root of another room, is refused and stored nowhere.
func TestThreadsCountReachOthersAndPage(t *testing.T) {
	second := startConnector(t)
	ada, bob, eve := newUser(t), newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	evesRoom := newRoom(t, eve)
	a := dial(t, plat.url, ada)
	b := dial(t, second.url, bob)
	a.subscribe(room, 0)
	b.subscribe(room, 0)
	ack := a.sendText(room, "thoughts on the release?")
	root, rootSeq := ack.str("message_id"), ack.num("seq")

	reply := func(c *client, text string) int64 {
		t.Helper()
		id := uuid.NewString()
		c.write(frame{"type": "send", "id": id, "room_id": room, "client_msg_id": id, "text": text, "thread_id": root, "seq": rootSeq})
		return c.expect("ack", func(f frame) bool { return f.str("id") == id }).num("seq")
	}
	var seqs []int64
	for i, c := range []*client{b, a, b} {
		seqs = append(seqs, reply(c, fmt.Sprint("reply ", i+1)))
	}
	// Live, to both connectors' members: the replies (marked) and the root's count.
	for _, c := range []*client{a, b} {
		f := c.expectWithin(noticeWait, livev1.TypeThread, func(f frame) bool {
			th, _ := f.msg()["thread"].(map[string]any)
			return f.msg().str("id") == root && frame(th).num("reply_count") == 3
		})
		th := frame(f.msg()["thread"].(map[string]any))
		if th.num("last_reply_seq") != seqs[2] || th.str("last_reply_user_id") != bob.id {
			t.Errorf("thread frame %v, want the last reply %d by bob", f, seqs[2])
		}
	}
	for _, m := range a.waitMessages(room, 4)[1:] {
		if m.str("thread_id") != root {
			t.Errorf("a reply reached the room without its thread: %v", m)
		}
	}
	// The root's author hears of bob's reply; bob is not told of his own.
	a.expectWithin(noticeWait, "notification", func(f frame) bool {
		n := frame(f["notification"].(map[string]any))
		return n.str("kind") == "thread" && n.str("thread_id") == root && n.str("from_user_id") == bob.id
	})

	history := func(c *client, hid string, extra frame) frame {
		t.Helper()
		h := frame{"type": "history", "id": hid, "room_id": room}
		for k, v := range extra {
			h[k] = v
		}
		c.write(h)
		return c.expect("history", func(f frame) bool { return f.str("id") == hid })
	}
	page := history(b, "h-room", nil)
	first := frame(page["messages"].([]any)[0].(map[string]any))
	if th, _ := first["thread"].(map[string]any); first.str("id") != root || frame(th).num("reply_count") != 3 {
		t.Errorf("room history's root: %v", first)
	}
	seqsOf := func(p frame) []int64 {
		var out []int64
		for _, m := range p["messages"].([]any) {
			out = append(out, frame(m.(map[string]any)).num("seq"))
		}
		return out
	}
	newest := history(b, "h-t1", frame{"thread_id": root, "limit": 2})
	if got := seqsOf(newest); newest.str("thread_id") != root || fmt.Sprint(got) != fmt.Sprint(seqs[1:]) || newest["more"] != true {
		t.Errorf("thread page %v more=%v, want %v and more", got, newest["more"], seqs[1:])
	}
	older := history(b, "h-t2", frame{"thread_id": root, "limit": 2, "before_seq": seqs[1]})
	if got := seqsOf(older); fmt.Sprint(got) != fmt.Sprint(seqs[:1]) || older["more"] != false {
		t.Errorf("older thread page %v more=%v, want %v and no more", got, older["more"], seqs[:1])
	}

	// Eve, outside the room, can neither reply there nor to its root from her own room.
	e := dial(t, plat.url, eve)
	e.write(frame{"type": "send", "id": "x1", "room_id": room, "client_msg_id": "x1", "text": "me too", "thread_id": root, "seq": rootSeq})
	if got := e.expect("error", func(f frame) bool { return f.str("id") == "x1" }); got.str("code") != livev1.CodeNotMember {
		t.Errorf("a reply from outside the room: %v", got)
	}
	e.write(frame{"type": "send", "id": "x2", "room_id": evesRoom, "client_msg_id": "x2", "text": "me too", "thread_id": root, "seq": rootSeq})
	if got := e.expect("error", func(f frame) bool { return f.str("id") == "x2" }); got.str("code") != livev1.CodeNoThread {
		t.Errorf("a reply to another room's message: %v", got)
	}
	// Nothing of them was stored: the thread still pages its three replies
	// after one more (so persist has worked past the refused ones, were any sent).
	seqs = append(seqs, reply(a, "reply 4"))
	a.expectWithin(noticeWait, livev1.TypeThread, func(f frame) bool {
		th, _ := f.msg()["thread"].(map[string]any)
		return f.msg().str("id") == root && frame(th).num("reply_count") == 4
	})
	if got := seqsOf(history(a, "h-t3", frame{"thread_id": root})); fmt.Sprint(got) != fmt.Sprint(seqs) {
		t.Errorf("thread after the refused replies: %v, want %v", got, seqs)
	}
	e.write(frame{"type": "history", "id": "x3", "room_id": room, "thread_id": root})
	if got := e.expect("error", func(f frame) bool { return f.str("id") == "x3" }); got.str("code") != livev1.CodeNotMember {
		t.Errorf("a thread's history from outside the room: %v", got)
	}
}
