package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parley-chat/parley/functions/moderation/internal/bertgen"
	"github.com/parley-chat/parley/functions/moderation/internal/classify"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	moderationv1 "github.com/parley-chat/parley/proto/parley/moderation/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Mongo, &stack))
}

type env struct {
	f      *function
	rev    *reviewer
	sink   *sink
	cancel context.CancelFunc
}

type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []event.Event
}

func newEnv(t *testing.T, thresholds string) *env {
	t.Helper()
	dir := t.TempDir()
	if err := bertgen.Write(dir, bertgen.Config{Words: []string{"hello", "you", "idiot", "kill", "team"},
		Labels: []string{"toxic", "threat"}, Triggers: map[string]int{"idiot": 0, "kill": 1}}); err != nil {
		t.Fatal(err)
	}
	clf, err := classify.Open(dir, "go", "")
	if err != nil {
		t.Fatal(err)
	}
	th, err := parseThresholds(thresholds, clf.Labels())
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"MONGO_URI": stack.MongoURI, "MONGO_DB": "m" + uuid.NewString()[:8]}
	mc, db, err := stores.New(prometheus.NewRegistry()).OpenMongo(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(db)
	ctx, cancel := context.WithCancel(context.Background())
	bt := newBatcher(clf, 32, 5*time.Millisecond)
	go bt.Run(ctx)
	flags := newFlagBatcher(st)
	go flags.Run(ctx)
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, *e)
		s.mu.Unlock()
		w.WriteHeader(202)
	}))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rev, _ := newReviewer(st, s.srv.URL, "", log)
	t.Cleanup(func() {
		cancel()
		s.srv.Close()
		st.flags.Database().Drop(context.Background())
		mc.Disconnect(context.Background())
		clf.Close()
	})
	return &env{f: &function{batcher: bt, flags: flags, store: st, labels: clf.Labels(), thresholds: th, model: "test", log: log,
		metrics: newMetrics(prometheus.NewRegistry())},
		rev: rev, sink: s, cancel: cancel}
}

func sent(t *testing.T, text string) event.Event {
	e := event.New()
	e.SetID(uuid.NewString())
	e.SetSource(eventsv1.EmitterOf(eventsv1.TypeMessageSent))
	e.SetType(eventsv1.TypeMessageSent)
	e.SetData(event.ApplicationJSON, eventsv1.Message{ID: uuid.NewString(), RoomID: "r1", Seq: 7, UserID: "u1", Username: "ada", Text: text})
	return e
}

func TestFlagsOnlyWhatCrossesAThreshold(t *testing.T) {
	e := newEnv(t, "threat=0.999")
	cases := map[string]string{
		"hello team":                            "",
		"you idiot":                             "toxic",
		"i will kill you":                       "", // threat scores ~0.993 < 0.999
		"idiot, kill!":                          "toxic",
		"":                                      "",
		"🎉🎉🎉":                                   "",
		"bad \xff utf8 idiot":                   "toxic",
		strings.Repeat("hello ", 600) + "idiot": "", // past the 128 tokens classified
	}
	for text, want := range cases {
		reply, err := e.f.Handle(context.Background(), sent(t, text))
		if err != nil {
			t.Fatalf("%.40q: %v", text, err)
		}
		got := ""
		if reply != nil {
			var fl eventsv1.MessageFlagged
			json.Unmarshal(reply.Data(), &fl)
			got = strings.Join(fl.Labels, ",")
			if reply.Type() != eventsv1.TypeMessageFlagged || fl.Seq != 7 || fl.Model != "test" || fl.Scores["toxic"] == 0 {
				t.Errorf("reply %v", reply)
			}
		}
		if got != want {
			t.Errorf("%.40q flagged %q, want %q", text, got, want)
		}
	}
	// Three messages were flagged toxic, none threat; every message was scored once per label.
	if n := testutil.ToFloat64(e.f.metrics.flags.WithLabelValues("toxic")); n != 3 {
		t.Errorf("parley_moderation_flags_total{label=toxic} = %v, want 3", n)
	}
	if n := testutil.ToFloat64(e.f.metrics.flags.WithLabelValues("threat")); n != 0 {
		t.Errorf("parley_moderation_flags_total{label=threat} = %v, want 0", n)
	}
	if n := testutil.CollectAndCount(e.f.metrics.scores); n != 2 {
		t.Errorf("score histogram has %d label series, want 2", n)
	}
}

func TestConcurrentEventsShareInferenceAndRedeliveryFlagsOnce(t *testing.T) {
	e := newEnv(t, "")
	ev := sent(t, "you idiot")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.f.Handle(context.Background(), ev); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	list, err := e.rev.ListFlagged(context.Background(), &moderationv1.ListFlaggedRequest{})
	if err != nil || len(list.Flags) != 1 {
		t.Fatalf("%d flags after 20 deliveries of one message (%v)", len(list.Flags), err)
	}
	if _, err := e.f.Handle(context.Background(), func() event.Event { x := sent(t, "x"); x.SetType("other"); return x }()); !ksvc.IsPermanent(err) {
		t.Errorf("unexpected type: %v", err)
	}
}

func TestOversizedEventsAreRefusedForGoodAndServingGoesOn(t *testing.T) {
	e := newEnv(t, "")
	tooLong := sent(t, "idiot "+strings.Repeat("é", eventsv1.MaxTextChars))
	tooBig := sent(t, "idiot")
	tooBig.SetData(event.ApplicationJSON, map[string]any{"id": "m1", "room_id": "r1", "text": "idiot",
		"padding": strings.Repeat("x", eventsv1.MaxDataBytes)})
	for name, ev := range map[string]event.Event{"text": tooLong, "data": tooBig} {
		reply, err := e.f.Handle(context.Background(), ev)
		if !ksvc.IsPermanent(err) || !strings.Contains(err.Error(), "over the limit") || reply != nil {
			t.Errorf("%s over the limit: reply %v, error %v; want a permanent error naming the limit", name, reply, err)
		}
	}
	// Nothing was flagged or queued for review, and the function goes on serving.
	atLimit := "idiot " + strings.Repeat("é", eventsv1.MaxTextChars-len("idiot "))
	if reply, err := e.f.Handle(context.Background(), sent(t, atLimit)); err != nil || reply == nil {
		t.Fatalf("a message at the limit: reply %v, error %v", reply, err)
	}
	list, err := e.rev.ListFlagged(context.Background(), &moderationv1.ListFlaggedRequest{})
	if err != nil || len(list.Flags) != 1 {
		t.Fatalf("%d flags, want only the message at the limit (%v)", len(list.Flags), err)
	}
}

func TestReviewRestoreAndConfirmAreAudited(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	var ids []string
	for _, text := range []string{"you idiot", "kill"} {
		ev := sent(t, text)
		var m eventsv1.Message
		json.Unmarshal(ev.Data(), &m)
		ids = append(ids, m.ID)
		if _, err := e.f.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	f, err := e.rev.Decide(ctx, &moderationv1.DecideRequest{ModeratorId: "mod1", MessageId: ids[0], Decision: "restore", Reason: "context"})
	if err != nil || f.Status != "restored" || f.DecidedBy != "mod1" {
		t.Fatalf("restore: %v %v", f, err)
	}
	if _, err := e.rev.Decide(ctx, &moderationv1.DecideRequest{ModeratorId: "mod1", MessageId: ids[1], Decision: "confirm"}); err != nil {
		t.Fatal(err)
	}
	e.sink.mu.Lock()
	got := e.sink.got
	e.sink.mu.Unlock()
	if len(got) != 1 || got[0].Type() != eventsv1.TypeMessageRestored {
		t.Fatalf("events sent to the broker: %v", got)
	}
	for status, want := range map[string]int{"pending": 0, "restored": 1, "confirmed": 1} {
		l, _ := e.rev.ListFlagged(ctx, &moderationv1.ListFlaggedRequest{Status: status})
		if len(l.Flags) != want {
			t.Errorf("%d %s flags, want %d", len(l.Flags), status, want)
		}
	}
	n, _ := e.rev.store.audit.CountDocuments(ctx, map[string]any{})
	if n != 2 {
		t.Errorf("%d audit entries, want 2", n)
	}
	for _, bad := range []*moderationv1.DecideRequest{
		{ModeratorId: "", MessageId: ids[0], Decision: "restore"},
		{ModeratorId: "m", MessageId: ids[0], Decision: "delete"},
		{ModeratorId: "m", MessageId: "nope", Decision: "confirm"},
	} {
		if _, err := e.rev.Decide(ctx, bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

func TestThresholdConfig(t *testing.T) {
	labels := []string{"toxic", "threat"}
	if th, err := parseThresholds("toxic=0.8, threat=0.3", labels); err != nil || th["toxic"] != 0.8 || th["threat"] != 0.3 {
		t.Fatalf("%v %v", th, err)
	}
	for _, bad := range []string{"toxic", "toxic=2", "spam=0.5", "toxic=x", "toxic=0"} {
		if _, err := parseThresholds(bad, labels); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestStartFailsClearlyWithoutAModel(t *testing.T) {
	_, err := build(context.Background(), func(k string) string {
		return map[string]string{"MODEL_DIR": t.TempDir(), "MONGO_URI": stack.MongoURI}[k]
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "model.onnx") {
		t.Fatalf("start without a model: %v", err)
	}
}

// Flags are stored in batches: deliveries of one message, together or
// after a moderator's decision, leave one flag with its review intact.
func TestRedeliveredFlagsKeepTheFirstAndItsReview(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	ev := sent(t, "you idiot")
	other := sent(t, "idiot, again")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, x := range []event.Event{ev, ev, other, ev} {
		wg.Go(func() {
			reply, err := e.f.Handle(ctx, x)
			if err == nil && reply == nil {
				err = errors.New("no flagged reply")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var m eventsv1.Message
	if err := ev.DataAs(&m); err != nil {
		t.Fatal(err)
	}
	d, err := e.f.store.get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.store.decide(ctx, d, "restored", "mod", "fine", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if d, err = e.f.store.get(ctx, m.ID); err != nil || d.Status != "restored" {
		t.Fatalf("after a redelivery: status %q, %v; want the decision kept", d.Status, err)
	}
	if n, err := e.f.store.flags.CountDocuments(ctx, map[string]any{}); err != nil || n != 2 {
		t.Fatalf("%d flags stored (%v); want 2", n, err)
	}
}

// A message.sent only the connector may emit: the same event under another
// source is refused for good and nothing is classified or queued.
func TestASentEventFromAnotherSourceIsRefused(t *testing.T) {
	e := newEnv(t, "")
	forged := sent(t, "you idiot")
	forged.SetSource(eventsv1.SourceAuth)
	if reply, err := e.f.Handle(context.Background(), forged); !ksvc.IsPermanent(err) || reply != nil {
		t.Fatalf("forged: reply %v, error %v; want a permanent error", reply, err)
	}
	list, err := e.rev.ListFlagged(context.Background(), &moderationv1.ListFlaggedRequest{})
	if err != nil || len(list.Flags) != 0 {
		t.Fatalf("%d flags after a forged event (%v)", len(list.Flags), err)
	}
}

// File names are read apart from the caption: a toxic name flags the
// message even behind a caption long enough to fill the model's tokens, and
// the review shows the names.
func TestToxicFileNamesFlagTheMessage(t *testing.T) {
	e := newEnv(t, "")
	send := func(text string, names ...string) *eventsv1.MessageFlagged {
		t.Helper()
		m := eventsv1.Message{ID: uuid.NewString(), RoomID: "r1", Seq: 9, UserID: "u1", Username: "ada", Text: text}
		for _, n := range names {
			m.Attachments = append(m.Attachments, eventsv1.Attachment{ID: uuid.NewString(), Name: n, Size: 10, ContentType: "text/plain"})
		}
		ev := event.New()
		ev.SetID(uuid.NewString())
		ev.SetSource(eventsv1.EmitterOf(eventsv1.TypeMessageSent))
		ev.SetType(eventsv1.TypeMessageSent)
		ev.SetData(event.ApplicationJSON, m)
		reply, err := e.f.Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if reply == nil {
			return nil
		}
		var fl eventsv1.MessageFlagged
		json.Unmarshal(reply.Data(), &fl)
		return &fl
	}
	if fl := send("", "holiday.txt", "minutes.txt"); fl != nil {
		t.Errorf("harmless names flagged: %v", fl.Labels)
	}
	if fl := send("", "you idiot.txt"); fl == nil || fl.Labels[0] != "toxic" {
		t.Errorf("a toxic name alone: %v", fl)
	}
	if fl := send(strings.Repeat("hello ", 600), "notes.txt", "idiot.txt"); fl == nil {
		t.Error("a toxic name behind a long caption was not flagged")
	}
}
