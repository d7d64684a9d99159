package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/knative/stores/opcount"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	searchv1 "github.com/parley-chat/parley/proto/parley/search/v1"
)

// BenchmarkStoreOpsPerMessage delivers message events as search's Triggers
// do (unordered, 500 messages/s in 10 rooms): every message stored, one in
// 10 edited, one in 50 deleted, one in 50 flagged. It reports the
// PostgreSQL statements per message and the CPU PostgreSQL and this process
// spend on them, then the time of a search over the 10 rooms. None of it
// is on the send path: search hangs off the Broker, and the connector's
// ack waits only for Kafka. Numbers: BENCHMARKS.md.
func BenchmarkStoreOpsPerMessage(b *testing.B) {
	const messages, rate, rooms = 2000, 500, 10
	var ops opcount.Counter
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(newDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.Tracer = ops.PgxTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := &store{pool: pool}
	if err := st.migrate(ctx); err != nil {
		b.Fatal(err)
	}
	f := &function{store: st, puts: newPutBatcher(st)}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go f.puts.Run(runCtx)
	srv := &searchServer{store: st, log: quiet}
	words := []string{"deploy", "budget", "lunch", "review", "release", "incident", "design", "standup"}
	var seq [rooms]int64
	for b.Loop() {
		prefix := uuid.NewString()
		roomIDs := make([]string, rooms)
		for r := range roomIDs {
			roomIDs[r] = fmt.Sprintf("%s-%d", prefix, r)
		}
		type delivery struct {
			typ  string
			data any
			at   time.Time
		}
		var ds []delivery
		for i := range messages {
			r := i % rooms
			seq[r]++
			m := eventsv1.Message{ID: uuid.NewString(), RoomID: roomIDs[r], Seq: seq[r], UserID: "u", Username: "ann",
				Text: fmt.Sprintf("the %s notes for %s, item %d", words[i%len(words)], words[(i/3)%len(words)], i), CreatedAt: time.Now()}
			ds = append(ds, delivery{eventsv1.TypeMessageStored, m, m.CreatedAt})
			switch {
			case i%10 == 1:
				ds = append(ds, delivery{eventsv1.TypeMessageEdited, eventsv1.MessageEdited{MessageID: m.ID, RoomID: m.RoomID, UserID: "u",
					Text: m.Text + " (edited)", EditedAt: time.Now()}, m.CreatedAt})
			case i%50 == 2:
				ds = append(ds, delivery{eventsv1.TypeMessageDeleted, eventsv1.MessageDeleted{MessageID: m.ID, RoomID: m.RoomID, UserID: "u"}, m.CreatedAt})
			case i%50 == 3:
				ds = append(ds, delivery{eventsv1.TypeMessageFlagged, eventsv1.MessageFlagged{MessageID: m.ID, RoomID: m.RoomID}, time.Now()})
			}
		}
		events := make([]func() error, len(ds))
		for i, d := range ds {
			e := newEvent(b, d.typ, d.at, d.data)
			events[i] = func() error { _, err := f.Handle(ctx, e); return err }
		}
		// Measure counts per message: the events of a message are spread
		// over the same schedule, so the rate holds per message.
		run, err := opcount.Measure(&ops, len(events), rate*float64(len(events))/messages, func(i int) error { return events[i]() })
		if err != nil {
			b.Fatal(err)
		}
		run.Messages = messages
		run.Report(b)

		const searches = 50
		begin := time.Now()
		for i := range searches {
			if _, err := srv.Search(ctx, &searchv1.SearchRequest{UserId: "u", RoomIds: roomIDs, Query: words[i%len(words)], Limit: 20}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(begin).Microseconds())/searches, "search_us/op")
	}
}
