package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/functions/moderation/internal/bertgen"
	"github.com/parley-chat/parley/functions/moderation/internal/classify"
	"github.com/parley-chat/parley/knative/stores/opcount"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// BenchmarkStoreOpsPerMessage delivers parley.message.sent events as the
// moderation-message-sent Trigger does (unordered, 500 messages/s) and
// reports the store commands moderation sends per message and the CPU the
// store servers spend on them. One message in 50 is toxic (issue 16's load
// has none). The classifier is the small generated model of the tests, in
// pure Go: its CPU is in "this process". Numbers: BENCHMARKS.md.
func BenchmarkStoreOpsPerMessage(b *testing.B) {
	const messages, rate = 2000, 500
	dir := b.TempDir()
	if err := bertgen.Write(dir, bertgen.Config{Words: []string{"hello", "you", "idiot", "load", "message"},
		Labels: []string{"toxic"}, Triggers: map[string]int{"idiot": 0}}); err != nil {
		b.Fatal(err)
	}
	clf, err := classify.Open(dir, "go", "")
	if err != nil {
		b.Fatal(err)
	}
	defer clf.Close()
	var ops opcount.Counter
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	bt := newBatcher(clf, 32, 5*time.Millisecond)
	go bt.Run(ctx)
	flags := newFlagBatcher(st)
	go flags.Run(ctx)
	th, _ := parseThresholds("", clf.Labels())
	f := &function{batcher: bt, flags: flags, store: st, labels: clf.Labels(), thresholds: th, model: "bench",
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: newMetrics(prometheus.NewRegistry())}
	for b.Loop() {
		events := make([]event.Event, messages)
		for i := range events {
			text := fmt.Sprintf("%d load message", time.Now().UnixNano())
			if i%50 == 0 {
				text = "you idiot"
			}
			e := event.New()
			e.SetID(uuid.NewString())
			e.SetSource(eventsv1.EmitterOf(eventsv1.TypeMessageSent))
			e.SetType(eventsv1.TypeMessageSent)
			e.SetData(event.ApplicationJSON, eventsv1.Message{ID: uuid.NewString(), RoomID: fmt.Sprint("r", i%10), Seq: int64(i + 1),
				UserID: "u1", Username: "ada", Text: text})
			events[i] = e
		}
		run, err := opcount.Measure(&ops, messages, rate, func(i int) error {
			_, err := f.Handle(ctx, events[i])
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		run.Report(b)
	}
}
