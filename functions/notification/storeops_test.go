package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongoevent "go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/knative/stores"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// observedFunction wires the function to its own database on the shared
// stores, with monitor and hook watching every command, and returns how
// to deliver it an event, and its store.
func observedFunction(tb testing.TB, monitor *mongoevent.CommandMonitor, hook redis.Hook) (func(typ string, data any) error, *store) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI).SetMonitor(monitor))
	if err != nil {
		tb.Fatal(err)
	}
	db := mc.Database("o" + uuid.NewString()[:8])
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		tb.Fatal(err)
	}
	rdb.AddHook(hook)
	st := newStore(db)
	if err := st.ensureIndexes(ctx); err != nil {
		tb.Fatal(err)
	}
	inserts := newInsertBatcher(st)
	done := make(chan struct{})
	go func() { defer close(done); inserts.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-done
		db.Drop(context.Background())
		mc.Disconnect(context.Background())
		rdb.Close()
	})
	f := &function{store: st, inserts: inserts, rdb: rdb, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		created: newCreatedCounter(prometheus.NewRegistry())}
	return func(typ string, data any) error {
		ev := event.New()
		ev.SetID(uuid.NewString())
		ev.SetSource(eventsv1.EmitterOf(typ))
		ev.SetType(typ)
		ev.SetData(event.ApplicationJSON, data)
		_, err := f.Handle(context.Background(), ev)
		return err
	}, st
}

// operators returns the query operators ($in, $ne, …) in a filter.
func operators(filter bson.Raw) []string {
	var out []string
	elems, _ := filter.Elements()
	for _, el := range elems {
		if strings.HasPrefix(el.Key(), "$") {
			out = append(out, el.Key())
		}
		if doc, ok := el.Value().DocumentOK(); ok {
			out = append(out, operators(doc)...)
		}
	}
	return out
}

// Handling a message reads by equality only: FerretDB answers $in, $ne and
// other operators by decoding the whole collection, a cost per message
// that grows with every user and membership stored. A username found once
// is not looked up again.
func TestMessagesAreHandledWithEqualityFiltersOnly(t *testing.T) {
	var mu sync.Mutex
	var handling bool
	var bad []string
	userFinds := 0
	monitor := &mongoevent.CommandMonitor{Started: func(_ context.Context, ev *mongoevent.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		if !handling {
			return
		}
		if coll, _ := ev.Command.Lookup("find").StringValueOK(); coll == "notification_users" {
			userFinds++
		}
		for _, key := range []string{"filter", "q"} {
			if f, err := ev.Command.LookupErr(key); err == nil {
				if doc, ok := f.DocumentOK(); ok && len(operators(doc)) > 0 {
					bad = append(bad, ev.CommandName+" "+doc.String())
				}
			}
		}
	}}
	deliver, _ := observedFunction(t, monitor, nopHook{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ada, bob := uuid.NewString(), uuid.NewString()
	group, direct := uuid.NewString(), uuid.NewString()
	for id, name := range map[string]string{ada: "ada", bob: "bob"} {
		must(deliver(eventsv1.TypeUserCreated, eventsv1.UserCreated{UserID: id, Username: name, CreatedAt: time.Now()}))
		must(deliver(eventsv1.TypeRoomMemberJoined, eventsv1.RoomMember{RoomID: group, UserID: id, Role: "member"}))
		must(deliver(eventsv1.TypeRoomMemberJoined, eventsv1.RoomMember{RoomID: direct, UserID: id, Role: "member", Reason: "direct"}))
	}
	mu.Lock()
	handling = true
	mu.Unlock()
	for _, m := range []eventsv1.Message{
		{RoomID: group, Text: "hi @bob and @nobody"},
		{RoomID: group, Text: "plain"},
		{RoomID: group, Text: "@bob again"},
		{RoomID: direct, Text: "just us"},
	} {
		m.ID, m.Seq, m.UserID, m.Username, m.CreatedAt = uuid.NewString(), 1, ada, "ada", time.Now().Add(-time.Hour)
		must(deliver(eventsv1.TypeMessageStored, m))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("filters with operators while handling messages:\n%s", strings.Join(bad, "\n"))
	}
	// bob once, then remembered; nobody is unknown and asked for again
	// (the projection may just lag), once per message naming them.
	if userFinds != 2 {
		t.Fatalf("%d username lookups for @bob twice and @nobody once; want 2", userFinds)
	}
}

type nopHook struct{}

func (nopHook) DialHook(next redis.DialHook) redis.DialHook                               { return next }
func (nopHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook                      { return next }
func (nopHook) ProcessPipelineHook(n redis.ProcessPipelineHook) redis.ProcessPipelineHook { return n }

// One batch can hold two deliveries of one event: its notification is new
// to the first only, and one stored earlier is new to neither.
func TestInsertGroupsReportsEachNotificationNewOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	doc := func(id string) notificationDoc {
		return notificationDoc{ID: id, UserID: "u", Kind: "mention", CreatedAt: time.Now()}
	}
	if _, err := e.f.store.insertGroups(ctx, [][]notificationDoc{{doc("old")}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.f.store.insertGroups(ctx, [][]notificationDoc{{doc("a"), doc("old")}, {doc("a"), doc("b")}, nil})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(docs []notificationDoc) (out []string) {
		for _, d := range docs {
			out = append(out, d.ID)
		}
		return out
	}
	if len(got) != 3 || strings.Join(ids(got[0]), ",") != "a" || strings.Join(ids(got[1]), ",") != "b" || len(got[2]) != 0 {
		t.Fatalf("new per group: %v %v %v; want [a] [b] []", ids(got[0]), ids(got[1]), ids(got[2]))
	}
}
