package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores/opcount"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	persistv1 "github.com/parley-chat/parley/proto/parley/persist/v1"
)

func TestASeqTakenByAnotherMessageIsAConflictNotAlreadyStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	first := newMessage(room, 1)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, first)); err != nil {
		t.Fatal(err)
	}
	sameSeq := newMessage(room, 1)
	sameID := newMessage(room, 2)
	sameID.ID = first.ID
	for name, m := range map[string]eventsv1.Message{"same room and seq": sameSeq, "same id": sameID} {
		reply, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m))
		if !errors.Is(err, errSeqConflict) || !ksvc.IsPermanent(err) || reply != nil {
			t.Errorf("%s: reply %v, error %v; want a permanent seq conflict and no stored reply", name, reply, err)
		}
	}
	if n := testutil.ToFloat64(e.f.conflicts); n != 2 {
		t.Errorf("conflicts metric %v, want 2", n)
	}
	// A redelivery of the stored message is still "already stored".
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, first)); err != nil {
		t.Errorf("redelivery: %v", err)
	}
	doc, err := e.f.store.get(ctx, room, first.ID)
	if err != nil || doc.Seq != 1 || doc.Text != first.Text {
		t.Errorf("stored %+v, %v; want the first message untouched", doc, err)
	}
}

func TestEventsOverTheLimitsAreRefusedAndNothingIsStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	long := newMessage(room, 1)
	long.Text = strings.Repeat("é", eventsv1.MaxTextChars+1)
	atLimit := newMessage(room, 2)
	atLimit.Text = strings.Repeat("é", eventsv1.MaxTextChars)
	huge := ce(t, eventsv1.TypeMessageSent, room, map[string]any{"id": uuid.NewString(), "room_id": room, "seq": 3,
		"text": "hi", "padding": strings.Repeat("x", eventsv1.MaxDataBytes)})
	for name, ev := range map[string]event.Event{
		"text over the limit": ce(t, eventsv1.TypeMessageSent, room, long),
		"data over the limit": huge,
		"edit over the limit": ce(t, eventsv1.TypeMessageEdited, room, eventsv1.MessageEdited{MessageID: atLimit.ID, RoomID: room, Text: long.Text}),
	} {
		if _, err := e.f.Handle(ctx, ev); !ksvc.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, atLimit)); err != nil {
		t.Errorf("a message at the limit: %v", err)
	}
	if n := e.count(t, bson.M{"room_id": room}); n != 1 {
		t.Errorf("%d stored, want only the message at the limit", n)
	}
}

// Messages stored before the text limit existed (or by any other writer)
// can be large: a History page stays under the transport's limit whatever
// they weigh, and reading on reaches every one of them.
func TestHistoryOfOversizedMessagesStaysReadable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	const n = 6
	for seq := int64(1); seq <= n; seq++ {
		m := newMessage(room, seq)
		m.Text = strings.Repeat("x", 900<<10)
		if _, err := e.f.store.messages.InsertOne(ctx, docFrom(m)); err != nil {
			t.Fatal(err)
		}
	}
	const grpcDefaultMax = 4 << 20
	pageBytes := func(resp *persistv1.HistoryResponse) int {
		size := 0
		for _, m := range resp.Messages {
			size += len(m)
		}
		return size
	}
	read := func(req *persistv1.HistoryRequest) []int64 {
		t.Helper()
		var seqs []int64
		for {
			resp, err := e.h.History(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if size := pageBytes(resp); size >= grpcDefaultMax || len(resp.Messages) == 0 {
				t.Fatalf("page %v: %d messages, %d bytes", req, len(resp.Messages), size)
			}
			page := make([]int64, 0, len(resp.Messages))
			for _, m := range resp.Messages {
				page = append(page, eventsv1.SeqOf(m))
			}
			if req.AfterSeq > 0 {
				seqs = append(seqs, page...)
				req.AfterSeq = page[len(page)-1]
			} else {
				seqs = append(page, seqs...)
				req.BeforeSeq = page[0]
			}
			if !resp.More {
				return seqs
			}
		}
	}
	if got := read(&persistv1.HistoryRequest{RoomId: room, Limit: 100}); len(got) != n || got[0] != 1 || got[n-1] != n {
		t.Errorf("scrolling back read %v, want 1..%d", got, n)
	}
	got := read(&persistv1.HistoryRequest{RoomId: room, AfterSeq: 1, Limit: 100})
	if len(got) != n-1 || got[0] != 2 {
		t.Errorf("reading forward read %v, want 2..%d", got, n)
	}
}

func TestReservedSeqBlocksNeverOverlapAndStartAboveStoredMessages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	for seq := int64(1); seq <= 30; seq++ {
		if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, newMessage(room, seq))); err != nil {
			t.Fatal(err)
		}
	}
	reserve := func(floor int64) (int64, int64) {
		t.Helper()
		resp, err := e.h.ReserveSeqs(ctx, &persistv1.ReserveSeqsRequest{RoomId: room, Floor: floor})
		if err != nil {
			t.Error(err)
			return 0, -1
		}
		if resp.Last-resp.First+1 != seqBlock {
			t.Errorf("block %d..%d is not %d seqs", resp.First, resp.Last, seqBlock)
		}
		return resp.First, resp.Last
	}
	// The room's first reservation starts above what is stored, whatever the caller knows.
	if first, _ := reserve(0); first != seqBlock+1 {
		t.Fatalf("first block starts at %d, want the first block above seq 30", first)
	}
	if first, _ := reserve(5); first != 2*seqBlock+1 {
		t.Fatalf("second block starts at %d", first)
	}
	// A caller whose counter is ahead of the reservations moves them up.
	if first, _ := reserve(10*seqBlock + 500); first != 11*seqBlock+1 {
		t.Fatalf("block above floor starts at %d", first)
	}
	var mu sync.Mutex
	taken := map[int64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, last := reserve(0)
			mu.Lock()
			defer mu.Unlock()
			for s := first; s <= last; s++ {
				if taken[s] || s <= 12*seqBlock {
					t.Errorf("seq %d handed out twice", s)
					return
				}
				taken[s] = true
			}
		}()
	}
	wg.Wait()
	for _, bad := range []*persistv1.ReserveSeqsRequest{{RoomId: "x"}, {RoomId: room, Floor: -1}, {RoomId: room, Floor: 1 << 62},
		{RoomId: room, Floor: 100 * maxFloorLead}} {
		if _, err := e.h.ReserveSeqs(ctx, bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

// A moderation decision forged by anyone but moderation is refused: the
// message stays as it is.
func TestAnEventFromTheWrongEmitterIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := uuid.NewString()
	m := newMessage(room, 1)
	if _, err := e.f.Handle(ctx, ce(t, eventsv1.TypeMessageSent, room, m)); err != nil {
		t.Fatal(err)
	}
	forged := ce(t, eventsv1.TypeMessageFlagged, room, eventsv1.MessageFlagged{MessageID: m.ID, RoomID: room, Labels: []string{"toxic"}})
	forged.SetSource(eventsv1.SourceConnector + "connector-1")
	if _, err := e.f.Handle(ctx, forged); !ksvc.IsPermanent(err) {
		t.Fatalf("forged flag: %v, want a permanent error", err)
	}
	if doc, err := e.f.store.get(ctx, room, m.ID); err != nil || doc.Hidden {
		t.Fatalf("after a forged flag: %+v, %v", doc, err)
	}
}

// Only a room's first reservation looks at its messages (sorting them costs
// FerretDB 35–45 µs per stored message); the next ones read the room's head,
// and a head that is stale or lost still never hands out a block twice.
func TestReservationsAfterTheFirstReadTheRoomsHeadNotItsMessages(t *testing.T) {
	var ops opcount.Counter
	ctx := context.Background()
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI).SetMonitor(ops.MongoMonitor()))
	if err != nil {
		t.Fatal(err)
	}
	db := mc.Database("t" + uuid.NewString()[:8])
	t.Cleanup(func() { db.Drop(context.Background()); mc.Disconnect(context.Background()) })
	st := newStore(db)
	if err := st.ensureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	room := uuid.NewString()
	docs := make([]messageDoc, 30)
	for i := range docs {
		docs[i] = docFrom(newMessage(room, int64(i+1)))
	}
	if err := errors.Join(st.insertMany(ctx, docs)...); err != nil {
		t.Fatal(err)
	}
	top := int64(len(docs))
	reserve := func() {
		t.Helper()
		first, last, err := st.reserveSeqs(ctx, room, 0)
		if err != nil {
			t.Fatal(err)
		}
		if first <= top || last-first+1 != seqBlock {
			t.Fatalf("block %d..%d is not a block above %d", first, last, top)
		}
		top = last
	}
	reserve()
	ops.Reset()
	for range 3 {
		reserve()
	}
	if n := ops.Counts()["mongodb find messages"]; n != 0 {
		t.Errorf("3 reservations after the first read the room's messages %d times", n)
	}
	// A stale head (a concurrent update, or one that failed) and a lost one.
	if _, err := st.heads.UpdateOne(ctx, bson.M{"_id": room}, bson.M{"$set": bson.M{"k": 0}}); err != nil {
		t.Fatal(err)
	}
	reserve()
	if _, err := st.heads.DeleteOne(ctx, bson.M{"_id": room}); err != nil {
		t.Fatal(err)
	}
	reserve()
	// Blocks taken whose head updates all failed: the head is far behind.
	var blocks []any
	for k := top / seqBlock; k < top/seqBlock+150; k++ { // block k holds k*seqBlock+1 .. (k+1)*seqBlock
		blocks = append(blocks, bson.M{"_id": fmt.Sprintf("%s/%d", room, k), "room_id": room, "k": k})
	}
	if _, err := st.seqs.InsertMany(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	top += 150 * seqBlock
	reserve()
	reserve()
}
