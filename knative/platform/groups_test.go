package platform

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/knative/stores"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// noticeOf matches a notification frame of kind about room from a user.
func noticeOf(kind, room, from string) func(frame) bool {
	return func(f frame) bool {
		n, _ := f["notification"].(map[string]any)
		return frame(n).str("kind") == kind && frame(n).str("room_id") == room && frame(n).str("from_user_id") == from
	}
}

// noticeWait bounds the wait for a notification about a room just opened:
// its message can reach notification before the room's member.joined
// events, and is then redelivered on notification-feed's backoff
// (7 retries from 0.2 s, the last at 25.4 s).
const noticeWait = 40 * time.Second

// notices counts the user's notifications of kind in room from a user.
func notices(t *testing.T, u user, kind, room, from string) int {
	t.Helper()
	var list struct {
		Notifications []struct {
			Kind       string
			RoomID     string `json:"room_id"`
			FromUserID string `json:"from_user_id"`
		}
	}
	rest(t, "GET", "/api/v1/notifications", u.token, nil, 200, &list)
	n := 0
	for _, x := range list.Notifications {
		if x.Kind == kind && x.RoomID == room && x.FromUserID == from {
			n++
		}
	}
	return n
}

// A group direct conversation of three: everyone gets every message and
// a "direct" notification of the others'; a ninth person is refused.
// Blocking stops the blocked one's sends into the blocker's 1:1 room
// (at once, cached membership or not) and the blocker's notifications of
// their mentions and messages, while their group messages still arrive.
func TestGroupDirectMessagesAndBlocking(t *testing.T) {
	ann, bob, cy := newUser(t), newUser(t), newUser(t)
	var group struct {
		ID, Kind string
		Members  []struct{ Username string }
	}
	rest(t, "POST", "/api/v1/dms", ann.token, map[string]any{"usernames": []string{cy.name, bob.name}}, 200, &group)
	if group.Kind != "group" || len(group.Members) != 2 {
		t.Fatalf("group: %+v", group)
	}
	var names []string
	for range 8 {
		names = append(names, newUser(t).name)
	}
	rest(t, "POST", "/api/v1/dms", ann.token, map[string]any{"usernames": names}, 400, nil)
	rest(t, "POST", "/api/v1/dms", ann.token, map[string]any{"usernames": []string{bob.name, "nobody-" + uuid.NewString()[:6]}}, 404, nil)

	a, b, c := dial(t, plat.url, ann), dial(t, plat.url, bob), dial(t, plat.url, cy)
	for _, x := range []*client{a, b, c} {
		x.subscribe(group.ID, 0)
	}
	a.sendText(group.ID, "hello both")
	b.sendText(group.ID, "hi ann")
	for _, x := range []*client{a, b, c} {
		x.waitMessages(group.ID, 2)
	}
	c.expectWithin(noticeWait, "notification", noticeOf("direct", group.ID, ann.id))
	c.expectWithin(noticeWait, "notification", noticeOf("direct", group.ID, bob.id))

	// Bob's 1:1 room with ann, and his cached membership of it.
	var dm struct{ ID string }
	rest(t, "POST", "/api/v1/dms", bob.token, map[string]string{"user_id": ann.id}, 200, &dm)
	a.subscribe(dm.ID, 0)
	b.subscribe(dm.ID, 0)
	before := b.sendText(dm.ID, "before the block")
	a.expectWithin(noticeWait, "notification", noticeOf("direct", dm.ID, bob.id))
	room := newRoom(t, ann, bob, cy)

	// The block reaches the connectors' caches through notification.
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	changes := rdb.SSubscribe(context.Background(), livev1.UserChannel(bob.id))
	defer changes.Close()
	if _, err := changes.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitChange := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			msg, err := changes.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var f livev1.MembershipFrame
			json.Unmarshal([]byte(msg.Payload), &f)
			if f.RoomID == dm.ID && f.UserID == bob.id && f.State == livev1.MembershipChanged {
				break
			}
		}
		// A connector handles one channel's frames in order: the fence
		// goes on bob's channel, which carried the change (two channels
		// may live on two Redis Cluster nodes and reach his connector
		// through two connections). A joined frame of a made-up room is
		// passed on to his sockets; once it reaches them, his connector
		// has handled the change before it and forgotten its cached answer.
		fence := uuid.NewString()
		payload, _ := json.Marshal(livev1.MembershipFrame{Type: livev1.TypeMembership, RoomID: fence, UserID: bob.id,
			State: livev1.MembershipJoined})
		if err := rdb.SPublish(context.Background(), livev1.UserChannel(bob.id), payload).Err(); err != nil {
			t.Fatal(err)
		}
		b.expect(livev1.TypeMembership, func(f frame) bool { return f.str("room_id") == fence })
	}
	rest(t, "PUT", "/api/v1/blocks/"+bob.id, ann.token, nil, 200, nil)
	// At once, before the block's event can have reached any connector:
	// the connector that answered the block had the send path refuse him.
	quick := uuid.NewString()
	b.write(frame{"type": "send", "id": quick, "room_id": dm.ID, "client_msg_id": quick, "text": "refused"})
	if f := b.expect("error", func(f frame) bool { return f.str("id") == quick }); f.str("code") != livev1.CodeBlocked {
		t.Fatalf("bob's send right after the block: %v", f)
	}
	var blocks struct {
		Blocked []struct{ User struct{ ID string } }
	}
	rest(t, "GET", "/api/v1/blocks", ann.token, nil, 200, &blocks)
	if len(blocks.Blocked) != 1 || blocks.Blocked[0].User.ID != bob.id {
		t.Fatalf("ann's blocks: %+v", blocks)
	}
	rest(t, "POST", "/api/v1/dms", bob.token, map[string]string{"user_id": ann.id}, 403, nil)
	waitChange()

	id := uuid.NewString()
	b.write(frame{"type": "send", "id": id, "room_id": dm.ID, "client_msg_id": id, "text": "refused"})
	if f := b.expect("error", func(f frame) bool { return f.str("id") == id }); f.str("code") != livev1.CodeBlocked {
		t.Fatalf("bob's send after the block: %v", f)
	}
	a.sendText(dm.ID, "ann may still write") // the blocker is not refused

	// Bob's group message still reaches ann (as in Slack), but only cy is
	// notified; his mention of both notifies only cy. Cy's notification of
	// the same message is the fence: ann's would have been made with it.
	b.sendText(group.ID, "still here")
	a.waitMessages(group.ID, 3)
	c.expectWithin(noticeWait, "notification", noticeOf("direct", group.ID, bob.id))
	b.sendText(room, "@"+ann.name+" @"+cy.name+" look")
	c.expectWithin(noticeWait, "notification", noticeOf("mention", room, bob.id))
	for _, r := range []string{group.ID, dm.ID} {
		if n := notices(t, ann, "direct", r, bob.id); n != 1 { // "hi ann", "before the block"
			t.Errorf("ann has %d direct notifications from bob in %s, want 1 (from before the block)", n, r)
		}
	}
	if n := notices(t, ann, "mention", room, bob.id); n != 0 {
		t.Errorf("ann was notified of %d mentions by bob after blocking him", n)
	}

	rest(t, "DELETE", "/api/v1/blocks/"+bob.id, ann.token, nil, 204, nil)
	waitChange()
	after := b.sendText(dm.ID, "after the unblock")
	msgs := a.waitMessages(dm.ID, 3)
	for _, m := range msgs {
		if strings.Contains(m.str("text"), "refused") {
			t.Errorf("the refused message was delivered: %v", m)
		}
	}
	if after.num("seq") != before.num("seq")+2 { // ann's one message between
		t.Errorf("seqs %d then %d: the refused send took a seq", before.num("seq"), after.num("seq"))
	}
}
