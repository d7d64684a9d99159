package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/knative/stores/opcount"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// BenchmarkStoreOpsPerMessage delivers parley.message.sent events as the
// persist-message-sent Trigger does (unordered, 500 messages/s in 10
// rooms, the load of issue 16's scenario) and reports the store commands
// persist sends per message and the CPU the store servers spend on them.
// Numbers and the command that produced them: BENCHMARKS.md.
func BenchmarkStoreOpsPerMessage(b *testing.B) {
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
	ropts, err := redis.ParseURL(stack.RedisURL)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(ropts)
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
