package main

import (
	"context"
	"testing"

	"github.com/google/uuid"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

// A reply notifies its thread's participants, as persist's stored event
// names them: not the replier, not one who left the room or blocked the
// replier, and one who is also mentioned once, as a mention.
func TestARepliesParticipantsAreNotified(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	ann, bob, cy, dee, eve := e.user(t, "ann"), e.user(t, "bob"), e.user(t, "cyd"), e.user(t, "dee"), e.user(t, "eve")
	for _, p := range []person{ann, bob, cy, dee, eve} {
		e.join(t, room, p, "joined")
	}
	e.handle(t, eventsv1.TypeRoomMemberLeft, eventsv1.RoomMember{RoomID: room, UserID: dee.id, Reason: "left"})
	e.block(t, eventsv1.TypeUserBlocked, eve, bob, "")
	root := e.say(t, room, ann, "a question")
	reply := message(room, bob, "an answer, @cyd")
	reply.Seq, reply.ThreadID = 2, root.ID
	reply.Thread = &eventsv1.Thread{ReplyCount: 2, Participants: []string{ann.id, bob.id, cy.id, dee.id, eve.id}}
	for range 2 { // redelivered
		e.handle(t, eventsv1.TypeMessageStored, reply)
	}
	if got := e.inbox(t, ann, "thread"); len(got) != 1 || got[0] != "bob:an answer, @cyd" {
		t.Errorf("the root's author: %v", got)
	}
	if l, err := e.list.List(context.Background(), &notificationv1.ListRequest{UserId: ann.id}); err != nil ||
		len(l.Notifications) == 0 || l.Notifications[0].ThreadId != root.ID {
		t.Errorf("the root's author's list: %v %v, want the thread named", l, err)
	}
	if got, m := e.inbox(t, cy, "thread"), e.inbox(t, cy, "mention"); len(got) != 0 || len(m) != 1 {
		t.Errorf("a participant mentioned: thread %v, mention %v", got, m)
	}
	for _, p := range []person{bob, dee, eve} {
		if got := e.inbox(t, p, "thread"); len(got) != 0 {
			t.Errorf("%s was notified: %v", p.name, got)
		}
	}
	// A message that is no reply notifies no participants, whatever it says.
	plain := message(room, bob, "not in a thread")
	plain.Thread = reply.Thread
	e.handle(t, eventsv1.TypeMessageStored, plain)
	if got := e.inbox(t, ann, "thread"); len(got) != 1 {
		t.Errorf("a message outside the thread notified: %v", got)
	}
}
