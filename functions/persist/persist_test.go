package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Mongo|devstack.Redis, &stack))
}

type env struct {
	f       *function
	h       *historyServer
	rdb     redis.UniversalClient
	batches atomic.Int64
}

// newEnv wires persist to its own MongoDB database on the shared FerretDB.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	vars := map[string]string{"MONGO_URI": stack.MongoURI, "REDIS_URL": stack.RedisURL, "MONGO_DB": "t" + uuid.NewString()[:8]}
	state, err := stores.New(prometheus.NewRegistry()).OpenState(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	st, rdb := newStore(state.Mongo), state.Redis
	if err := st.ensureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{rdb: rdb}
	bt := newBatcher(func(ctx context.Context, docs []messageDoc) []error {
		e.batches.Add(1)
		return st.insertMany(ctx, docs)
	})
	go bt.Run(ctx)
	c := &cache{rdb: rdb}
	e.f = &function{store: st, cache: c, batcher: bt, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "conflicts"})}
	e.h = &historyServer{store: st, cache: c}
	t.Cleanup(func() {
		cancel()
		state.Mongo.Drop(context.Background())
		state.Close(context.Background())
	})
	return e
}

func newMessage(room string, seq int64) eventsv1.Message {
	return eventsv1.Message{ID: uuid.Must(uuid.NewV7()).String(), RoomID: room, Seq: seq, UserID: "u1", Username: "ada",
		Text: fmt.Sprintf("message %d", seq), CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func ce(t testing.TB, typ, key string, data any) event.Event {
	e := event.New()
	e.SetID(uuid.NewString())
	e.SetSource(eventsv1.EmitterOf(typ))
	e.SetType(typ)
	e.SetExtension("partitionkey", key)
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return e
}

// publish does what the connector does at send: add to the Redis window.
func (e *env) publish(t *testing.T, m eventsv1.Message) {
	b, _ := json.Marshal(m)
	if err := e.rdb.ZAdd(context.Background(), livev1.HistoryKey(m.RoomID), redis.Z{Score: float64(m.Seq), Member: b}).Err(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) count(t *testing.T, filter bson.M) int64 {
	n, err := e.f.store.messages.CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func history(t *testing.T, e *env, req *persistv1.HistoryRequest) ([]eventsv1.Message, bool) {
	t.Helper()
	resp, err := e.h.History(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Message
	for _, b := range resp.Messages {
		var m eventsv1.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out, resp.More
}

func seqs(ms []eventsv1.Message) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprint(m.Seq, " ")
	}
	return s
}

func TestSentIsStoredOnceAndRepliesStored(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	m := newMessage(room, 1)
	for range 3 { // redelivery
		reply, err := e.f.Handle(context.Background(), ce(t, eventsv1.TypeMessageSent, room, m))
		if err != nil {
			t.Fatal(err)
		}
		if reply.Type() != eventsv1.TypeMessageStored || reply.Extensions()["partitionkey"] != room || reply.ID() != "stored-"+m.ID {
			t.Fatalf("reply %v", reply)
		}
	}
	if n := e.count(t, bson.M{"room_id": room}); n != 1 {
		t.Fatalf("%d documents after 3 deliveries, want 1", n)
	}
}

// The stored reply of a message that notifies no one is marked quiet, by
// the room kind the sent event names, so notification's Trigger leaves it
// out; any other is not.
func TestAStoredMessageThatNotifiesNoOneIsMarkedQuiet(t *testing.T) {
	e := newEnv(t)
	for i, c := range []struct {
		kind, text string
		quiet      bool
	}{
		{authv1.RoomKindPublic, "lunch?", true},
		{authv1.RoomKindPrivate, "lunch?", true},
		{authv1.RoomKindPublic, "lunch, @ann?", false},
		{authv1.RoomKindDirect, "lunch?", false},
		{"", "lunch?", false}, // a connector that did not say
	} {
		room := uuid.NewString()
		m := newMessage(room, 1)
		m.Text = c.text
		sent := ce(t, eventsv1.TypeMessageSent, room, m)
		if c.kind != "" {
			sent.SetExtension(eventsv1.ExtRoomKind, c.kind)
		}
		reply, err := e.f.Handle(context.Background(), sent)
		if err != nil {
			t.Fatal(err)
		}
		if got := reply.Extensions()[eventsv1.ExtQuiet] == "true"; got != c.quiet {
			t.Errorf("case %d, %q in a %q room: stored reply quiet=%v, want %v (extensions %v)", i, c.text, c.kind, got, c.quiet, reply.Extensions())
		}
	}
}

func TestConcurrentSendsAreMicroBatched(t *testing.T) {
	e := newEnv(t)
	room := uuid.NewString()
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.f.Handle(context.Background(), ce(t, eventsv1.TypeMessageSent, room, newMessage(room, int64(i+1))))
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if c := e.count(t, bson.M{"room_id": room}); c != n {
		t.Fatalf("%d stored, want %d", c, n)
	}
	if b := e.batches.Load(); b >= n/4 {
		t.Errorf("%d InsertMany calls for %d concurrent messages: not batching", b, n)
	}
}

func TestEditDeleteFlagAndReceipts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	m := newMessage(room, 1)
	edit := eventsv1.MessageEdited{MessageID: m.ID, RoomID: room, UserID: "u1", Text: "edited", EditedAt: time.Now().UTC()}
	// The edit's Trigger may deliver before the message's: retryable, not lost.
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageEdited, room, edit)); err == nil || ksvc.IsPermanent(err) {
		t.Fatalf("edit before message: %v, want a retryable error", err)
	}
	e.publish(t, m)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageEdited, room, edit)); err != nil {
		t.Fatal(err)
	}
	got, _ := history(t, e, &persistv1.HistoryRequest{RoomId: room})
	if len(got) != 1 || got[0].Text != "edited" || got[0].EditedAt.IsZero() {
		t.Fatalf("after edit: %+v", got)
	}
	m2 := newMessage(room, 2)
	e.publish(t, m2)
	e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m2))
	flag := eventsv1.MessageFlagged{MessageID: m2.ID, RoomID: room, Labels: []string{"toxic"}, Scores: map[string]float64{"toxic": 0.97}, Model: "m"}
	for range 2 {
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageFlagged, room, flag)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageDeleted, room, eventsv1.MessageDeleted{MessageID: m.ID, RoomID: room, UserID: "u1"})); err != nil {
		t.Fatal(err)
	}
	got, _ = history(t, e, &persistv1.HistoryRequest{RoomId: room})
	if len(got) != 2 || !got[0].Deleted || got[0].Text != "" || !got[1].Hidden || got[1].Text != "" {
		t.Fatalf("after delete and flag: %+v", got)
	}
	// The changes persist made are logged for clients that resume the room
	// (livev1.ChangesKey), each scored by the window's top seq, 2, when made.
	changed, err := e.rdb.ZRangeWithScores(ctx, livev1.ChangesKey(room), 0, -1).Result()
	if err != nil || len(changed) != 2 {
		t.Fatalf("changes logged: %v %v", changed, err)
	}
	for _, z := range changed {
		if z.Score != 2 || (z.Member != "1" && z.Member != "2") {
			t.Errorf("change logged %v, want seqs 1 and 2 at 2", z)
		}
	}
	// Moderators can still review the hidden text in MongoDB.
	doc, _ := e.f.store.get(ctx, room, m2.ID)
	if doc.Text != m2.Text || !doc.Hidden {
		t.Errorf("stored flagged doc %+v", doc)
	}
	for _, seq := range []int64{5, 3, 7, 6} {
		r := eventsv1.ReceiptRead{RoomID: room, UserID: "u2", Seq: seq, At: time.Now().UTC()}
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeReceiptRead, room, r)); err != nil {
			t.Fatal(err)
		}
	}
	var receipt struct{ Seq int64 }
	e.f.store.receipts.FindOne(ctx, bson.M{"_id": room + ":u2"}).Decode(&receipt)
	if receipt.Seq != 7 {
		t.Errorf("read position %d, want the highest, 7", receipt.Seq)
	}
}

func TestBadEventsArePermanentErrors(t *testing.T) {
	e := newEnv(t)
	for name, ev := range map[string]event.Event{
		"unknown type": ce(t, "parley.nope", "k", map[string]string{}),
		"bad data":     ce(t, eventsv1.TypeMessageSent, "k", "not an object"),
		"missing id":   ce(t, eventsv1.TypeMessageSent, "k", map[string]any{"room_id": "r", "seq": 1}),
		"bad edit":     ce(t, eventsv1.TypeMessageEdited, "k", []int{1}),
	} {
		if _, err := e.f.Handle(context.Background(), ev); !ksvc.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
}

func TestHistoryFromWindowAndMongo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	// 1..30 stored; only 21..30 still in the Redis window; 31 published but not yet stored.
	for seq := int64(1); seq <= 31; seq++ {
		m := newMessage(room, seq)
		if seq > 20 {
			e.publish(t, m)
		}
		if seq <= 30 {
			if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		req      *persistv1.HistoryRequest
		want     string
		wantMore bool
	}{
		{&persistv1.HistoryRequest{RoomId: room, AfterSeq: 25, Limit: 10}, "26 27 28 29 30 31 ", false},
		{&persistv1.HistoryRequest{RoomId: room, AfterSeq: 15, Limit: 10}, "16 17 18 19 20 21 22 23 24 25 ", true},
		{&persistv1.HistoryRequest{RoomId: room, AfterSeq: 18, Limit: 100}, "19 20 21 22 23 24 25 26 27 28 29 30 31 ", false},
		{&persistv1.HistoryRequest{RoomId: room, Limit: 5}, "27 28 29 30 31 ", true},
		{&persistv1.HistoryRequest{RoomId: room, BeforeSeq: 24, Limit: 6}, "18 19 20 21 22 23 ", true},
		{&persistv1.HistoryRequest{RoomId: room, BeforeSeq: 4, Limit: 6}, "1 2 3 ", false},
	}
	for _, c := range cases {
		got, more := history(t, e, c.req)
		if seqs(got) != c.want || more != c.wantMore {
			t.Errorf("after=%d before=%d limit=%d: got %q more=%v, want %q more=%v",
				c.req.AfterSeq, c.req.BeforeSeq, c.req.Limit, seqs(got), more, c.want, c.wantMore)
		}
	}
	for _, bad := range []*persistv1.HistoryRequest{
		{RoomId: "x"}, {RoomId: room, Limit: 101}, {RoomId: room, AfterSeq: 1, BeforeSeq: 5}, {RoomId: room, AfterSeq: -1},
	} {
		if _, err := e.h.History(ctx, bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

// The author of a hidden message is told why on their own channel and in
// the reasons hash; the room is told only that it is hidden.
func TestHiddenReasonGoesToTheAuthorOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	m := newMessage(room, 1) // by u1
	e.publish(t, m)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
		t.Fatal(err)
	}
	author, members := e.rdb.SSubscribe(ctx, livev1.UserChannel(m.UserID)), e.rdb.SSubscribe(ctx, livev1.RoomChannel(room))
	defer author.Close()
	defer members.Close()
	for _, ps := range []*redis.PubSub{author, members} {
		if _, err := ps.Receive(ctx); err != nil { // the subscription is in place
			t.Fatal(err)
		}
	}
	// The event's user_id is not trusted for who is told: the stored author is.
	flag := eventsv1.MessageFlagged{MessageID: m.ID, RoomID: room, Seq: 1, UserID: "someone-else", Labels: []string{"toxic", "insult"},
		Scores: map[string]float64{"toxic": 0.97, "insult": 0.9}, Model: "m"}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageFlagged, room, flag)); err != nil {
		t.Fatal(err)
	}
	// A redaction frame as the client reads it: livev1.MessageFrame with
	// its message decoded.
	type redaction struct {
		Type    string           `json:"type"`
		Message eventsv1.Message `json:"message"`
		Reason  string           `json:"reason"`
	}
	next := func(ps *redis.PubSub) redaction {
		t.Helper()
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		msg, err := ps.ReceiveMessage(wait)
		if err != nil {
			t.Fatal(err)
		}
		var f redaction
		if err := json.Unmarshal([]byte(strings.TrimPrefix(msg.Payload, "e ")), &f); err != nil {
			t.Fatalf("frame %q: %v", msg.Payload, err)
		}
		return f
	}
	if f := next(members); f.Type != livev1.TypeRedacted || !f.Message.Hidden || f.Reason != "" || f.Message.Text != "" {
		t.Errorf("the room got %+v, want a redaction without the reason", f)
	}
	if f := next(author); f.Type != livev1.TypeRedacted || !f.Message.Hidden || f.Reason != "flagged as toxic and insult" || f.Message.Text != "" {
		t.Errorf("the author got %+v, want a redaction with the reason", f)
	}
	why, err := e.rdb.HGet(ctx, livev1.HiddenReasonsKey(room), m.ID).Result()
	if err != nil || why != "flagged as toxic and insult" {
		t.Errorf("kept reason %q, %v", why, err)
	}
	restore := eventsv1.MessageRestored{MessageID: m.ID, RoomID: room, By: "mod", At: time.Now().UTC()}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageRestored, room, restore)); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.rdb.HExists(ctx, livev1.HiddenReasonsKey(room), m.ID).Result(); n {
		t.Error("the reason outlived the restore")
	}
}
