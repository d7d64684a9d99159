package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

func reply(room string, seq int64, root eventsv1.Message, user string) eventsv1.Message {
	m := newMessage(room, seq)
	m.ThreadID, m.UserID, m.Username = root.ID, user, "user-"+user
	return m
}

// TestRepliesAreCountedOnTheRootConcurrentlyAndOnRedelivery stores the
// replies of a thread concurrently and twice each (their Trigger is
// unordered, the Broker delivers at least once): the root counts each once,
// names the newest reply and every participant, in MongoDB, in the window
// and in the frame the room is told; the stored event of a reply carries
// the summary.
func TestRepliesAreCountedOnTheRootConcurrentlyAndOnRedelivery(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	root := newMessage(room, 1)
	e.publish(t, root)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, root)); err != nil {
		t.Fatal(err)
	}
	sub := e.rdb.SSubscribe(ctx, livev1.RoomChannel(room))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 8
	replies := make([]eventsv1.Message, n)
	for i := range replies {
		replies[i] = reply(room, int64(2+i), root, []string{"u2", "u3"}[i%2])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for range 2 {
		for _, r := range replies {
			wg.Go(func() {
				out, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, r))
				if err == nil {
					var stored eventsv1.Message
					if err = json.Unmarshal(out.Data(), &stored); err == nil && (stored.Thread == nil || stored.ThreadID != root.ID ||
						!slices.Contains(stored.Thread.Participants, root.UserID)) {
						err = errors.New("stored event of a reply without its thread: " + string(out.Data()))
					}
				}
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	doc, err := e.f.store.get(ctx, room, root.ID)
	if err != nil {
		t.Fatal(err)
	}
	th := doc.public().Thread
	last := replies[n-1]
	if th == nil || th.ReplyCount != n || th.LastReplySeq != last.Seq || th.LastReplyUserID != last.UserID ||
		th.LastReplyUsername != last.Username || !th.LastReplyAt.Equal(last.CreatedAt) {
		t.Fatalf("root's summary %+v, want %d replies, the last %+v", th, n, last)
	}
	slices.Sort(th.Participants)
	if !slices.Equal(th.Participants, []string{"u1", "u2", "u3"}) {
		t.Fatalf("participants %v", th.Participants)
	}
	// The window's copy of the root carries the summary too.
	page, _ := history(t, e, &persistv1.HistoryRequest{RoomId: room, Limit: 1, BeforeSeq: 2})
	if len(page) != 1 || page[0].Thread == nil || page[0].Thread.ReplyCount != n {
		t.Fatalf("history's root %+v", page)
	}
	// The room was told, with frames carrying the root.
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _, frame, err := livev1.ParseEnvelope(msg.Payload)
	var f livev1.MessageFrame
	if err == nil {
		err = json.Unmarshal(frame, &f)
	}
	var told eventsv1.Message
	if err != nil || f.Type != livev1.TypeThread || json.Unmarshal(f.Message, &told) != nil || told.ID != root.ID || told.Thread == nil {
		t.Fatalf("room told %s (%v)", msg.Payload, err)
	}
}

// TestThreadHistoryPagesItsRepliesOnly pages a thread back from its
// newest reply, among messages of the room and of another thread.
func TestThreadHistoryPagesItsRepliesOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	a, b := newMessage(room, 1), newMessage(room, 2)
	var want []int64
	msgs := []eventsv1.Message{a, b}
	for seq := int64(3); seq <= 12; seq++ {
		switch seq % 3 {
		case 0:
			msgs = append(msgs, reply(room, seq, a, "u2"))
			want = append(want, seq)
		case 1:
			msgs = append(msgs, reply(room, seq, b, "u2"))
		default:
			msgs = append(msgs, newMessage(room, seq))
		}
	}
	for _, m := range msgs {
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
			t.Fatal(err)
		}
	}
	page, more := history(t, e, &persistv1.HistoryRequest{RoomId: room, ThreadId: a.ID, Limit: 2})
	if seqs(page) != "9 12 " || !more {
		t.Fatalf("newest page %q more=%v, want 9 12 and more", seqs(page), more)
	}
	page, more = history(t, e, &persistv1.HistoryRequest{RoomId: room, ThreadId: a.ID, Limit: 2, BeforeSeq: 9})
	if seqs(page) != "3 6 " || more {
		t.Fatalf("older page %q more=%v, want 3 6 and no more (thread %v)", seqs(page), more, want)
	}
	// Another room's thread id finds nothing; a bad one is refused.
	if page, _ := history(t, e, &persistv1.HistoryRequest{RoomId: uuid.NewString(), ThreadId: a.ID}); len(page) != 0 {
		t.Fatalf("another room's page holds %v", seqs(page))
	}
	if _, err := e.h.History(ctx, &persistv1.HistoryRequest{RoomId: room, ThreadId: "x"}); err == nil {
		t.Fatal("a thread id that is no message id was accepted")
	}
}

// TestAReplyToNoRootOrToAReplyIsNotStored: a reply whose root is not
// stored yet is retried; one whose root is a reply, or lies after it, is
// refused for good; neither is stored.
func TestAReplyToNoRootOrToAReplyIsNotStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	root := newMessage(room, 1)
	early := reply(room, 2, root, "u2")
	_, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, early))
	if err == nil || ksvc.IsPermanent(err) {
		t.Fatalf("a reply before its root: %v, want a retryable error", err)
	}
	if n := e.count(t, bson.M{"_id": early.ID}); n != 0 {
		t.Fatal("a reply was stored before its root")
	}
	for _, m := range []eventsv1.Message{root, early} {
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
			t.Fatal(err)
		}
	}
	nested := reply(room, 3, early, "u3")
	backwards := reply(room, 4, newMessage(room, 9), "u3")
	later := newMessage(room, 5)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, later)); err != nil {
		t.Fatal(err)
	}
	backwards.ThreadID = later.ID
	backwards.Seq = 4
	for _, bad := range []eventsv1.Message{nested, backwards} {
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, bad)); !ksvc.IsPermanent(err) {
			t.Fatalf("reply %d to %s: %v, want a permanent error", bad.Seq, bad.ThreadID, err)
		}
		if n := e.count(t, bson.M{"_id": bad.ID}); n != 0 {
			t.Fatalf("reply %d stored", bad.Seq)
		}
	}
}

// Room history pages hold top-level messages only, from the window and
// from MongoDB alike, so a page is full however busy the room's threads
// are; messages stored before thread_id was kept on top-level ones are
// found once the backfill ran. Catch-up (after a seq) keeps the replies:
// they are the room's seqs a client missed.
func TestRoomHistoryLeavesThreadRepliesOut(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	root := newMessage(room, 1)
	// 1..30 stored, every third a reply to 1; 16..30 still in the window.
	for seq := int64(1); seq <= 30; seq++ {
		m := newMessage(room, seq)
		if seq == 1 {
			m = root
		} else if seq%3 == 0 {
			m = reply(room, seq, root, "u2")
		}
		if seq >= 16 {
			e.publish(t, m)
		}
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
			t.Fatal(err)
		}
	}
	// 2 and 4 as stored before thread_id was kept on top-level messages.
	if _, err := e.f.store.messages.UpdateMany(ctx, bson.M{"room_id": room, "seq": bson.M{"$in": bson.A{2, 4}}},
		bson.M{"$unset": bson.M{"thread_id": ""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.store.migrations.DeleteOne(ctx, bson.M{"_id": threadIDsMigration}); err != nil {
		t.Fatal(err)
	}
	if err := e.f.store.ensureIndexes(ctx); err != nil { // the next start
		t.Fatal(err)
	}
	cases := []struct {
		req      *persistv1.HistoryRequest
		want     string
		wantMore bool
	}{
		{&persistv1.HistoryRequest{RoomId: room, Limit: 5}, "23 25 26 28 29 ", true},
		{&persistv1.HistoryRequest{RoomId: room, BeforeSeq: 16, Limit: 4}, "10 11 13 14 ", true},
		{&persistv1.HistoryRequest{RoomId: room, BeforeSeq: 20, Limit: 6}, "11 13 14 16 17 19 ", true},
		{&persistv1.HistoryRequest{RoomId: room, BeforeSeq: 6, Limit: 10}, "1 2 4 5 ", false},
		{&persistv1.HistoryRequest{RoomId: room, Limit: 100}, "1 2 4 5 7 8 10 11 13 14 16 17 19 20 22 23 25 26 28 29 ", false},
		{&persistv1.HistoryRequest{RoomId: room, AfterSeq: 25, Limit: 10}, "26 27 28 29 30 ", false},
		{&persistv1.HistoryRequest{RoomId: room, AfterSeq: 10, Limit: 4}, "11 12 13 14 ", true},
	}
	for _, c := range cases {
		got, more := history(t, e, c.req)
		if seqs(got) != c.want || more != c.wantMore {
			t.Errorf("after=%d before=%d limit=%d: got %q more=%v, want %q more=%v",
				c.req.AfterSeq, c.req.BeforeSeq, c.req.Limit, seqs(got), more, c.want, c.wantMore)
		}
	}
}

// Two persist replicas may rewrite a root's window copy in the other
// order than they counted its replies: the older summary does not replace
// the newer.
func TestTheWindowKeepsTheNewerThreadSummary(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	root := newMessage(room, 1)
	e.publish(t, root)
	newer, older := root, root
	newer.Thread = &eventsv1.Thread{ReplyCount: 3, LastReplySeq: 4, Participants: []string{"u1", "u2"}}
	older.Thread = &eventsv1.Thread{ReplyCount: 2, LastReplySeq: 3, Participants: []string{"u1"}}
	for _, m := range []eventsv1.Message{newer, older} {
		if err := e.f.cache.replace(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	page, _ := history(t, e, &persistv1.HistoryRequest{RoomId: room, Limit: 1, BeforeSeq: 2})
	if len(page) != 1 || page[0].Thread == nil || page[0].Thread.ReplyCount != 3 || page[0].Thread.LastReplySeq != 4 {
		t.Fatalf("the window's root %+v, want the summary of 3 replies", page)
	}
}
