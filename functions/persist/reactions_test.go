package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

// reactionsOf is what history (the window) and the store say of a
// message's reactions, as "emoji:user,user emoji:user".
func (e *env) reactionsOf(t *testing.T, m eventsv1.Message) (window, stored string) {
	t.Helper()
	got, _ := history(t, e, &persistv1.HistoryRequest{RoomId: m.RoomID, AfterSeq: m.Seq - 1, Limit: 1})
	if len(got) != 1 {
		t.Fatalf("history of %d: %v", m.Seq, got)
	}
	doc, err := e.f.store.get(context.Background(), m.RoomID, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return fmtReactions(got[0].Reactions), fmtReactions(doc.public().Reactions)
}

func fmtReactions(rs []eventsv1.Reaction) string {
	s := ""
	for _, r := range rs {
		s += fmt.Sprintf("%s:%v ", r.Emoji, r.UserIDs)
	}
	return s
}

func TestReactionsAreStoredIdempotentlyAndLimited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	m := newMessage(room, 1)
	react := func(user, emoji, op string) error {
		_, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageReacted, room, eventsv1.MessageReacted{MessageID: m.ID, RoomID: room,
			Seq: m.Seq, UserID: user, Emoji: emoji, Op: op, At: time.Now().UTC()}))
		return err
	}
	// The reaction's Trigger may deliver before the message's: retryable.
	if err := react("u2", "👍", eventsv1.ReactionAdd); err == nil || ksvc.IsPermanent(err) {
		t.Fatalf("reaction before its message: %v, want a retryable error", err)
	}
	e.publish(t, m)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ user, emoji, op string }{
		{"u2", "👍", eventsv1.ReactionAdd},
		{"u2", "👍", eventsv1.ReactionAdd}, // redelivered
		{"u3", "🎉", eventsv1.ReactionAdd},
		{"u3", "👍", eventsv1.ReactionAdd},
		{"u2", "👍", eventsv1.ReactionRemove},
		{"u2", "👍", eventsv1.ReactionRemove},  // redelivered
		{"u4", "❤️", eventsv1.ReactionRemove}, // never added
	} {
		if err := react(r.user, r.emoji, r.op); err != nil {
			t.Fatalf("%s %s %s: %v", r.op, r.emoji, r.user, err)
		}
	}
	// The window's reactions are the connector's (it applies each as it
	// tells the room): persist keeps the store's and leaves the window's.
	const want = "👍:[u3] 🎉:[u3] "
	if window, stored := e.reactionsOf(t, m); window != "" || stored != want {
		t.Fatalf("reactions in the window %q, in the store %q; want none and %q", window, stored, want)
	}

	// Up to MaxReactionEmojis different emoji; then only those.
	for i := 2; i < eventsv1.MaxReactionEmojis; i++ {
		if err := react("u2", string(rune(0x1F600+i)), eventsv1.ReactionAdd); err != nil {
			t.Fatalf("emoji %d: %v", i+1, err)
		}
	}
	_, before := e.reactionsOf(t, m)
	if err := react("u2", "🦀", eventsv1.ReactionAdd); !ksvc.IsPermanent(err) {
		t.Fatalf("emoji %d: %v, want a permanent refusal", eventsv1.MaxReactionEmojis+1, err)
	}
	if err := react("u2", "🎉", eventsv1.ReactionAdd); err != nil {
		t.Fatalf("joining an emoji there at the limit: %v", err)
	}
	for name, bad := range map[string]eventsv1.MessageReacted{
		"text":        {MessageID: m.ID, RoomID: room, UserID: "u2", Emoji: "lol", Op: eventsv1.ReactionAdd},
		"two emoji":   {MessageID: m.ID, RoomID: room, UserID: "u2", Emoji: "👍👍", Op: eventsv1.ReactionAdd},
		"unknown op":  {MessageID: m.ID, RoomID: room, UserID: "u2", Emoji: "👍", Op: "toggle"},
		"nobody":      {MessageID: m.ID, RoomID: room, Emoji: "👍", Op: eventsv1.ReactionAdd},
		"wrong room":  {MessageID: m.ID, RoomID: uuid.NewString(), UserID: "u2", Emoji: "👍", Op: eventsv1.ReactionAdd},
		"long emoji":  {MessageID: m.ID, RoomID: room, UserID: "u2", Emoji: "👍" + strings.Repeat("\ufe0f", 10), Op: eventsv1.ReactionAdd},
		"empty emoji": {MessageID: m.ID, RoomID: room, UserID: "u2", Op: eventsv1.ReactionRemove},
	} {
		_, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageReacted, room, bad))
		if name == "wrong room" {
			if err == nil || ksvc.IsPermanent(err) { // not stored in that room (yet): like a reaction before its message
				t.Errorf("%s: %v, want a retryable error", name, err)
			}
			continue
		}
		if !ksvc.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
	forged := ce(t, eventsv1.TypeMessageReacted, room, eventsv1.MessageReacted{MessageID: m.ID, RoomID: room, UserID: "u9",
		Emoji: "🎉", Op: eventsv1.ReactionAdd})
	forged.SetSource(eventsv1.SourceModeration)
	if _, err := e.f.Handle(ctx, forged); !ksvc.IsPermanent(err) {
		t.Errorf("a reaction from moderation's source: %v, want refused", err)
	}
	_, after := e.reactionsOf(t, m)
	if wantNow := strings.Replace(before, "🎉:[u3]", "🎉:[u3 u2]", 1); after != wantNow {
		t.Fatalf("after refusals: store %q; want %q", after, wantNow)
	}

	// A hidden message shows no reactions, and shows them again on restore
	// (the window's copy from the store: the hidden one held none).
	flag := eventsv1.MessageFlagged{MessageID: m.ID, RoomID: room, Seq: 1, Labels: []string{"toxic"}, Model: "m"}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageFlagged, room, flag)); err != nil {
		t.Fatal(err)
	}
	if window, stored := e.reactionsOf(t, m); window != "" || stored != "" {
		t.Errorf("a hidden message shows reactions: %q, %q", window, stored)
	}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageRestored, room, eventsv1.MessageRestored{MessageID: m.ID, RoomID: room, By: "mod"})); err != nil {
		t.Fatal(err)
	}
	if window, stored := e.reactionsOf(t, m); window != after || stored != after {
		t.Errorf("restored: %q, %q; want %q", window, stored, after)
	}

	// Deleting the message drops its reactions from the store too.
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageDeleted, room, eventsv1.MessageDeleted{MessageID: m.ID, RoomID: room, UserID: "u1"})); err != nil {
		t.Fatal(err)
	}
	if doc, err := e.f.store.get(ctx, room, m.ID); err != nil || len(doc.Reactions) != 0 || len(doc.ReactionEmojis) != 0 {
		t.Errorf("a deleted message keeps %d reactions (%v)", len(doc.Reactions), err)
	}
}

// persist's rewrites of a message in the window (an edit here) keep the
// reactions the window holds: the store's copy can lag them (the reactions
// are still on their way to persist), and writing it whole would take back
// reactions the room has already seen.
func TestRewritesKeepTheWindowsReactions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	m := newMessage(room, 1)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
		t.Fatal(err)
	}
	live := m
	live.Reactions = []eventsv1.Reaction{{Emoji: "🎉", UserIDs: []string{"u3"}}}
	e.publish(t, live) // as the connector holds it after telling the room of u3's 🎉
	edit := eventsv1.MessageEdited{MessageID: m.ID, RoomID: room, UserID: m.UserID, Text: "edited", EditedAt: time.Now().UTC()}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageEdited, room, edit)); err != nil {
		t.Fatal(err)
	}
	got, _ := history(t, e, &persistv1.HistoryRequest{RoomId: room, AfterSeq: 0, Limit: 1})
	if len(got) != 1 || got[0].Text != "edited" || fmtReactions(got[0].Reactions) != "🎉:[u3] " {
		t.Fatalf("the window after an edit from the store: %+v", got)
	}
}
