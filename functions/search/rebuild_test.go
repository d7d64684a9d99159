package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/cekafka"
	"github.com/parley-chat/parley/kafka/kgoauth"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

const topic = "parley-events"

// kafkaOpts logs in to the test stack's broker as one of the cluster's
// users (kafka/users.yaml).
func kafkaOpts(t testing.TB, user string) []kgo.Opt {
	t.Helper()
	for _, u := range stack.KafkaUsers() {
		if u.Name == user {
			auth, err := kgoauth.Opts(kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: u.Name, Password: u.Password})
			if err != nil {
				t.Fatal(err)
			}
			return append([]kgo.Opt{kgo.SeedBrokers(stack.KafkaBrokers...)}, auth...)
		}
	}
	t.Fatalf("no Kafka user %s", user)
	return nil
}

// produce appends events to the Broker's topic as the Broker's data plane
// does, in binary content mode, and raw records besides.
func produce(t testing.TB, events []event.Event, raw ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kafkaOpts(t, "parley-knative")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	records := raw
	for _, e := range events {
		key, headers, value, err := cekafka.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		rec := &kgo.Record{Topic: topic, Key: key, Value: value}
		for _, h := range headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		records = append(records, rec)
	}
	for _, r := range records {
		r.Topic = topic
	}
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestRebuildReplaysTheTopicIntoAFreshIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	room := "r-" + time.Now().Format("150405.000000") // the topic is shared with other tests
	kept, edited, deleted, hidden, restored := message(room, 1, "kept zebra"), message(room, 2, "first zebra"),
		message(room, 3, "deleted zebra"), message(room, 4, "hidden zebra"), message(room, 5, "restored zebra")
	var events []event.Event
	for _, m := range []eventsv1.Message{kept, edited, deleted, hidden, restored} {
		events = append(events, newEvent(t, eventsv1.TypeMessageSent, t0, m), newEvent(t, eventsv1.TypeMessageStored, t0, m))
	}
	events = append(events,
		newEvent(t, eventsv1.TypeMessageEdited, t0, eventsv1.MessageEdited{MessageID: edited.ID, RoomID: room, UserID: "u-1",
			Text: "second zebra", EditedAt: t0.Add(time.Hour)}),
		newEvent(t, eventsv1.TypeMessageDeleted, t0, eventsv1.MessageDeleted{MessageID: deleted.ID, RoomID: room, UserID: "u-1", DeletedAt: t0}),
		newEvent(t, eventsv1.TypeMessageFlagged, t0.Add(time.Second), eventsv1.MessageFlagged{MessageID: hidden.ID, RoomID: room}),
		newEvent(t, eventsv1.TypeMessageFlagged, t0.Add(time.Second), eventsv1.MessageFlagged{MessageID: restored.ID, RoomID: room}),
		newEvent(t, eventsv1.TypeMessageRestored, t0, eventsv1.MessageRestored{MessageID: restored.ID, RoomID: room, By: "mod", At: t0.Add(time.Minute)}))
	forged := newEvent(t, eventsv1.TypeMessageStored, t0, message(room, 6, "forged zebra"))
	forged.SetSource(eventsv1.SourceConnector + "evil")
	events = append(events, forged)
	produce(t, events, &kgo.Record{Key: []byte(room), Value: []byte("not a CloudEvent")})

	// The live index has drifted: a message the topic never had.
	stale := message(room, 7, "stale zebra")
	e.deliver(t, eventsv1.TypeMessageStored, t0, stale)

	stats, err := rebuild(ctx, e.pool, kafkaOpts(t, "parley-search-rebuild"), topic, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Applied < 10 || stats.Refused < 2 {
		t.Errorf("stats %+v: want at least the 10 events applied and the forged and the junk refused", stats)
	}
	got := map[string]bool{}
	for _, h := range e.search(t, "zebra", room) {
		got[h.MessageId] = true
	}
	want := map[string]bool{kept.ID: true, edited.ID: true, restored.ID: true}
	if len(got) != len(want) || !got[kept.ID] || !got[edited.ID] || !got[restored.ID] {
		t.Errorf("after the rebuild found %v, want %v (kept, edited, restored)", got, want)
	}
	if hits := e.search(t, "first", room); len(hits) != 0 {
		t.Errorf("the edited message's old text was found")
	}
	// The live function keeps writing to the rebuilt index.
	later := message(room, 8, "later zebra")
	e.deliver(t, eventsv1.TypeMessageStored, t0, later)
	if hits := e.search(t, "later", room); len(hits) != 1 {
		t.Errorf("a message indexed after the rebuild: %d hits", len(hits))
	}
	var schemas int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", rebuildSchema).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("the rebuild's schema is left behind (%v)", err)
	}
	// A second rebuild gives the same index.
	if _, err := rebuild(ctx, e.pool, kafkaOpts(t, "parley-search-rebuild"), topic, quiet); err != nil {
		t.Fatal(err)
	}
	if hits := e.search(t, "zebra", room); len(hits) != 3 {
		t.Errorf("after a second rebuild: %d hits, want 3", len(hits))
	}
}

// A rebuild that cannot read the topic leaves the live index alone.
func TestAFailedRebuildLeavesTheLiveIndex(t *testing.T) {
	e := newEnv(t)
	m := message("r-live", 1, "still here")
	e.deliver(t, eventsv1.TypeMessageStored, t0, m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The connector's login may not read the topic.
	if _, err := rebuild(ctx, e.pool, kafkaOpts(t, "parley-connector"), topic, quiet); err == nil {
		t.Fatal("a rebuild without read access succeeded")
	}
	if hits := e.search(t, "still", "r-live"); len(hits) != 1 {
		t.Errorf("the live index lost its message: %d hits", len(hits))
	}
}

// Events that arrive while the fresh index fills go to the live one, which
// the swap drops: the rebuild applies them again afterwards.
func TestRebuildCatchesUpOnEventsThatArriveMeanwhile(t *testing.T) {
	e := newEnv(t)
	room := "r-meanwhile-" + time.Now().Format("150405.000000")
	before := message(room, 1, "before the rebuild")
	produce(t, []event.Event{newEvent(t, eventsv1.TypeMessageStored, t0, before)})
	meanwhile := message(room, 2, "during the rebuild")
	beforeSwap = func() {
		ev := newEvent(t, eventsv1.TypeMessageStored, t0, meanwhile)
		produce(t, []event.Event{ev})
		if _, err := e.f.Handle(context.Background(), ev); err != nil { // its Trigger, into the old table
			t.Error(err)
		}
	}
	t.Cleanup(func() { beforeSwap = nil })
	if _, err := rebuild(context.Background(), e.pool, kafkaOpts(t, "parley-search-rebuild"), topic, quiet); err != nil {
		t.Fatal(err)
	}
	if got := ids(e.search(t, "rebuild", room)); len(got) != 2 {
		t.Errorf("after the rebuild found %v, want the message from before and the one from during it", got)
	}
}

// `search rebuild` as an operator runs it: everything from the environment.
func TestRebuildCommandReadsItsSettingsFromTheEnvironment(t *testing.T) {
	e := newEnv(t)
	room := "r-env-" + time.Now().Format("150405.000000")
	m := message(room, 1, "from the command")
	produce(t, []event.Event{newEvent(t, eventsv1.TypeMessageStored, t0, m)})
	var password string
	for _, u := range stack.KafkaUsers() {
		if u.Name == "parley-search-rebuild" {
			password = u.Password
		}
	}
	env := map[string]string{"SEARCH_DATABASE_URL": e.url, "KAFKA_BROKERS": strings.Join(stack.KafkaBrokers, ","),
		"KAFKA_SASL_USERNAME": "parley-search-rebuild", "KAFKA_SASL_PASSWORD": password}
	if err := rebuildFromEnv(context.Background(), func(k string) string { return env[k] }, quiet); err != nil {
		t.Fatal(err)
	}
	if hits := e.search(t, "command", room); len(hits) != 1 {
		t.Errorf("%d hits after the command", len(hits))
	}
	for _, missing := range []string{"SEARCH_DATABASE_URL", "KAFKA_BROKERS", "KAFKA_SASL_PASSWORD"} {
		partial := map[string]string{}
		for k, v := range env {
			if k != missing {
				partial[k] = v
			}
		}
		err := rebuildFromEnv(context.Background(), func(k string) string { return partial[k] }, quiet)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: %v, want an error naming it", missing, err)
		}
	}
}
