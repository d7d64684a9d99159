package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	notificationv1 "github.com/parley-chat/parley/proto/parley/notification/v1"
)

// unreadOf decodes the counts a subscribed or unread frame carries.
func unreadOf(t *testing.T, f frame) livev1.Unread {
	t.Helper()
	raw, _ := json.Marshal(f["unread"])
	var u livev1.Unread
	if f["unread"] == nil || json.Unmarshal(raw, &u) != nil {
		t.Fatalf("%s frame without unread counts: %v", f.str("type"), f)
	}
	return u
}

// Unread counts come with subscribed and follow a read to every socket of
// the reader, on every connector: others' messages only, mentions from
// what the notification function indexed.
func TestUnreadCountsFollowReadsOnEverySocket(t *testing.T) {
	marks := &markedRead{}
	one := newTestServer(t, Config{}, func(d *Deps) { d.Notifications = marks })
	other := newTestServer(t, Config{}, func(d *Deps) { d.Notifications = marks }) // a second connector on the same Redis
	ada, bob := "ada-"+uuid.NewString(), "bob-"+uuid.NewString()
	room := uuid.NewString()
	a := one.dial(t, ada)
	var seqs []int64
	for _, text := range []string{"hi @bob", "how are you", "@bob?"} {
		seqs = append(seqs, a.sendText(room, text).num("seq"))
	}
	b1 := one.dial(t, bob)
	own := b1.sendText(room, "fine").num("seq")
	// What the notification function does for the two mentions.
	for _, seq := range []int64{seqs[0], seqs[2]} {
		one.rdb.ZAdd(context.Background(), livev1.MentionsKey(room, bob), redis.Z{Score: float64(seq), Member: seq})
	}
	b2 := other.dial(t, bob)
	for _, c := range []*testClient{b1, b2} {
		c.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": room, "last_seq": 0}}})
	}
	for _, c := range []*testClient{b1, b2} {
		got := unreadOf(t, c.expect("subscribed", nil))
		want := livev1.Unread{Messages: 3, Mentions: []int64{seqs[0], seqs[2]}, UpTo: own}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("subscribed with %+v, want %+v", got, want)
		}
	}
	a.write(frame{"type": "subscribe", "id": "s", "rooms": []frame{{"room_id": room, "last_seq": 0}}})
	if got := unreadOf(t, a.expect("subscribed", nil)); got.Messages != 1 || len(got.Mentions) != 0 {
		t.Errorf("ada has only bob's message unread, has %+v", got)
	}

	b1.write(frame{"type": "read", "room_id": room, "seq": seqs[1]})
	want := livev1.Unread{ReadSeq: seqs[1], Messages: 1, Mentions: []int64{seqs[2]}, UpTo: own}
	for _, c := range []*testClient{b1, b2} {
		if got := unreadOf(t, c.expect("unread", func(f frame) bool { return f.str("room_id") == room })); !reflect.DeepEqual(got, want) {
			t.Fatalf("after reading to %d: %+v, want %+v", seqs[1], got, want)
		}
	}
	b2.write(frame{"type": "read", "room_id": room, "seq": own})
	want = livev1.Unread{ReadSeq: own, UpTo: own, Mentions: []int64{}}
	for _, c := range []*testClient{b1, b2} {
		if got := unreadOf(t, c.expect("unread", func(f frame) bool { return f.str("room_id") == room })); !reflect.DeepEqual(got, want) {
			t.Fatalf("after reading all: %+v, want %+v", got, want)
		}
	}
	if n := one.rdb.ZCard(context.Background(), livev1.MentionsKey(room, bob)).Val(); n != 0 {
		t.Errorf("%d read mentions kept", n)
	}
	// Each read past a mention marked the room's notifications read that
	// far; ada's read passed none of hers and asked nothing.
	a.write(frame{"type": "read", "room_id": room, "seq": own})
	a.expect("unread", func(f frame) bool { return f.str("room_id") == room })
	wantMarks := []string{fmt.Sprintf("%s %s %d", bob, room, seqs[1]), fmt.Sprintf("%s %s %d", bob, room, own)}
	if got := marks.calls(); !reflect.DeepEqual(got, wantMarks) {
		t.Errorf("notifications marked read: %v, want %v", got, wantMarks)
	}
}

// markedRead records what the notification function was asked to mark read.
type markedRead struct {
	mu   sync.Mutex
	reqs []string
}

func (m *markedRead) MarkRead(_ context.Context, req *notificationv1.MarkReadRequest, _ ...grpc.CallOption) (*notificationv1.MarkReadResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reqs = append(m.reqs, fmt.Sprintf("%s %s %d", req.UserId, req.RoomId, req.UpToSeq))
	return &notificationv1.MarkReadResponse{Marked: 1}, nil
}

func (m *markedRead) calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.reqs)
}

// Counting reads the history window only: deleted and hidden messages are
// not unread, and a reader behind a full window learns that there is more.
func TestUnreadCountsSkipGoneMessagesAndSayWhenTheWindowIsShort(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	room, bob := uuid.NewString(), "bob-"+uuid.NewString()
	pipe := ts.rdb.Pipeline()
	for i := range livev1.HistoryWindow {
		seq := int64(1000 + i)
		m := eventsv1.Message{ID: uuid.NewString(), RoomID: room, Seq: seq, UserID: "ada", Username: "ada",
			Text: fmt.Sprintf(`"user_id":"%s" "deleted":true`, bob)} // text that looks like fields
		switch i {
		case 1:
			m.Deleted, m.Text = true, ""
		case 2:
			m.Hidden, m.Text = true, ""
		}
		raw, _ := json.Marshal(m)
		pipe.ZAdd(ctx, livev1.HistoryKey(room), redis.Z{Score: float64(seq), Member: raw})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, err := unread(ctx, ts.rdb, room, bob, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	want := livev1.Unread{Messages: livev1.HistoryWindow - 2, More: true, UpTo: 1000 + livev1.HistoryWindow - 1, Mentions: []int64{}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("behind a full window: %+v, want %+v", got, want)
	}
	got, moved, err := unread(ctx, ts.rdb, room, bob, 999, false)
	if err != nil || !moved.raised || got.More || got.Messages != livev1.HistoryWindow-2 {
		t.Fatalf("read up to the window's start: %+v moved %+v (%v)", got, moved, err)
	}
	if _, moved, _ := unread(ctx, ts.rdb, room, bob, 998, false); moved.raised {
		t.Error("a read position moved backwards")
	}
}
