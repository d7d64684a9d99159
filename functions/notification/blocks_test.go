package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

func (e *env) block(t *testing.T, typ string, blocker, blocked person, dm string) {
	t.Helper()
	e.handle(t, typ, eventsv1.UserBlock{BlockerID: blocker.id, BlockedID: blocked.id, DirectRoomID: dm, At: time.Now()})
}

// Every member of a group direct room is notified of every message, but
// no one of the messages (and mentions) of someone they blocked; the
// others still are. An unblock restores it.
func TestBlockedSendersDoNotNotify(t *testing.T) {
	e := newEnv(t)
	group, room, dm := uuid.NewString(), uuid.NewString(), uuid.NewString()
	ann, bob, cy := e.user(t, "ann"), e.user(t, "bob"), e.user(t, "cyd")
	for _, p := range []person{ann, bob, cy} {
		e.join(t, group, p, "direct")
		e.join(t, room, p, "joined")
	}
	e.join(t, dm, ann, "direct")
	e.join(t, dm, bob, "direct")
	e.say(t, group, bob, "hi all")
	if a, c := e.inbox(t, ann, "direct"), e.inbox(t, cy, "direct"); len(a) != 1 || len(c) != 1 {
		t.Fatalf("group message before any block: ann %v, cy %v", a, c)
	}

	sub := e.listen(t, livev1.UserChannel(bob.id))
	e.block(t, eventsv1.TypeUserBlocked, ann, bob, dm)
	e.block(t, eventsv1.TypeUserBlocked, ann, bob, dm) // redelivered
	// The connectors are told to forget bob's cached membership of the DM.
	msg, err := sub.ReceiveMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var f livev1.MembershipFrame
	if err := json.Unmarshal([]byte(msg.Payload), &f); err != nil || f.RoomID != dm || f.UserID != bob.id || f.State != livev1.MembershipChanged {
		t.Errorf("frame %s", msg.Payload)
	}

	e.say(t, group, bob, "anyone?")
	e.say(t, dm, bob, "ann?")
	e.say(t, room, bob, "@ann @cyd look")
	if got := e.inbox(t, ann, "direct"); len(got) != 1 {
		t.Errorf("ann was notified of bob's direct messages after blocking him: %v", got)
	}
	if got := e.inbox(t, ann, "mention"); len(got) != 0 {
		t.Errorf("ann was notified of bob's mention after blocking him: %v", got)
	}
	if c, m := e.inbox(t, cy, "direct"), e.inbox(t, cy, "mention"); len(c) != 2 || len(m) != 1 {
		t.Errorf("cy, who blocked no one: direct %v, mention %v", c, m)
	}
	e.say(t, dm, ann, "bob, stop")
	if got := e.inbox(t, bob, "direct"); len(got) != 1 {
		t.Errorf("the blocker's own messages reach bob: %v", got)
	}

	e.block(t, eventsv1.TypeUserUnblocked, ann, bob, dm)
	e.say(t, dm, bob, "sorry")
	if got := e.inbox(t, ann, "direct"); len(got) != 2 {
		t.Errorf("ann after unblocking bob: %v", got)
	}
}

// A block and an unblock arrive through two Triggers, in either order:
// the later one (by its time) holds.
func TestTheLatestBlockChangeHolds(t *testing.T) {
	e := newEnv(t)
	ann, bob := e.user(t, "ann"), e.user(t, "bob")
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	unblock := eventsv1.UserBlock{BlockerID: ann.id, BlockedID: bob.id, At: at.Add(time.Second)}
	block := eventsv1.UserBlock{BlockerID: ann.id, BlockedID: bob.id, At: at}
	e.handle(t, eventsv1.TypeUserUnblocked, unblock)
	e.handle(t, eventsv1.TypeUserBlocked, block) // older, arriving late
	if blocked, err := e.f.store.blocked(ctx, ann.id, bob.id); err != nil || blocked {
		t.Fatalf("an older block overrode a later unblock: %v %v", blocked, err)
	}
	block.At = at.Add(2 * time.Second)
	e.handle(t, eventsv1.TypeUserBlocked, block)
	if blocked, err := e.f.store.blocked(ctx, ann.id, bob.id); err != nil || !blocked {
		t.Fatalf("a later block not held: %v %v", blocked, err)
	}
	if err := e.deliver(eventsv1.TypeUserBlocked, eventsv1.UserBlock{BlockerID: ann.id}); err == nil {
		t.Error("a block naming no one was accepted")
	}
}

// A message handled after the first of a conversation's "direct" joins and
// before the others still notifies everyone: each of those joins lists all
// of the conversation's people.
func TestAMessageBetweenAConversationsJoinsNotifiesEveryone(t *testing.T) {
	e := newEnv(t)
	group := uuid.NewString()
	ann, bob, cyd := e.user(t, "ann"), e.user(t, "bob"), e.user(t, "cyd")
	everyone := []string{ann.id, bob.id, cyd.id}
	e.handle(t, eventsv1.TypeRoomMemberJoined, eventsv1.RoomMember{RoomID: group, UserID: ann.id, Role: "member",
		Reason: "direct", Members: everyone})
	e.say(t, group, ann, "hello both")
	for _, p := range []person{bob, cyd} {
		if got := e.inbox(t, p, "direct"); len(got) != 1 {
			t.Errorf("%s: %v", p.name, got)
		}
	}
	too := make([]string, eventsv1.MaxConversationPeople+1)
	for i := range too {
		too[i] = uuid.NewString()
	}
	err := e.deliver(eventsv1.TypeRoomMemberJoined, eventsv1.RoomMember{RoomID: uuid.NewString(), UserID: ann.id, Reason: "direct", Members: too})
	if !ksvc.IsPermanent(err) {
		t.Errorf("a conversation of %d people: %v, want a permanent refusal", len(too), err)
	}
}
