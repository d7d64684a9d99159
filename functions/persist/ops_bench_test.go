package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/knative/stores"
	"github.com/parley-chat/parley/knative/stores/opcount"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// BenchmarkStoreOpsPerMessage delivers parley.message.sent events as the
// persist-message-sent Trigger does (unordered, 500 messages/s in 10
// rooms, the load of issue 16's scenario) and reports the store commands
// persist sends per message and the CPU the store servers spend on them.
// Numbers and the command that produced them: BENCHMARKS.md.
func BenchmarkStoreOpsPerMessage(b *testing.B) { benchStoreOps(b, false) }

// BenchmarkStoreOpsPerReply is BenchmarkStoreOpsPerMessage with every
// message after a room's first a reply in the thread of that first one:
// each reply also reads its root and recomputes the root's summary, and
// its threads grow to 200 replies.
func BenchmarkStoreOpsPerReply(b *testing.B) { benchStoreOps(b, true) }

func benchStoreOps(b *testing.B, replies bool) {
	const messages, rate, rooms = 2000, 500, 10
	var ops opcount.Counter
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI).SetMonitor(ops.MongoMonitor()))
	if err != nil {
		b.Fatal(err)
	}
	db := mc.Database("b" + uuid.NewString()[:8])
	defer func() { db.Drop(context.Background()); mc.Disconnect(context.Background()) }()
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		b.Fatal(err)
	}
	rdb.AddHook(ops.RedisHook())
	defer rdb.Close()
	st := newStore(db)
	if err := st.ensureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	bt := newBatcher(st.insertMany)
	go bt.Run(ctx)
	f := &function{store: st, cache: &cache{rdb: rdb}, batcher: bt, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "conflicts"})}
	var seq [rooms]int64
	for b.Loop() {
		room := uuid.NewString()
		events := make([]eventsv1.Message, messages)
		for i := range events {
			r := i % rooms
			seq[r]++
			events[i] = newMessage(fmt.Sprintf("%s-%d", room, r), seq[r])
			if replies && i >= rooms {
				events[i].ThreadID = events[r].ID
			}
		}
		if replies {
			for _, root := range events[:rooms] { // stored before their replies, as the connector makes sure
				if _, err := f.Handle(ctx, ce(b, eventsv1.TypeMessageSent, root.RoomID, root)); err != nil {
					b.Fatal(err)
				}
			}
		}
		run, err := opcount.Measure(&ops, messages, rate, func(i int) error {
			_, err := f.Handle(ctx, ce(b, eventsv1.TypeMessageSent, events[i].RoomID, events[i]))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		run.Report(b)
	}
}

// BenchmarkReserveSeqs reserves seq blocks, one after another, in a room
// that already holds many messages (an instance that has run a while: at
// issue 16's load each of 10 rooms takes a block every 20 s) and reports
// the store commands and the store servers' CPU per reservation.
func BenchmarkReserveSeqs(b *testing.B) {
	const stored, reservations = 5000, 20
	var ops opcount.Counter
	ctx := context.Background()
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI).SetMonitor(ops.MongoMonitor()))
	if err != nil {
		b.Fatal(err)
	}
	db := mc.Database("b" + uuid.NewString()[:8])
	defer func() { db.Drop(context.Background()); mc.Disconnect(context.Background()) }()
	st := newStore(db)
	if err := st.ensureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	room := uuid.NewString()
	// The room's history: its first block, then messages from it and the blocks after.
	if _, _, err := st.reserveSeqs(ctx, room, 0); err != nil {
		b.Fatal(err)
	}
	docs := make([]messageDoc, stored)
	for i := range docs {
		docs[i] = docFrom(newMessage(room, int64(i+1)))
	}
	for i := 0; i < stored; i += 500 {
		for _, err := range st.insertMany(ctx, docs[i:i+500]) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, _, err := st.reserveSeqs(ctx, room, stored); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var mu sync.Mutex // one reservation at a time, as one connector's authority makes them
		last := int64(0)
		run, err := opcount.Measure(&ops, reservations, 1000, func(int) error {
			mu.Lock()
			defer mu.Unlock()
			first, end, err := st.reserveSeqs(ctx, room, 0)
			if err == nil && first <= max(last, stored) {
				err = fmt.Errorf("block %d..%d is not above %d", first, end, max(last, stored))
			}
			last = end
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		run.Report(b)
	}
}
