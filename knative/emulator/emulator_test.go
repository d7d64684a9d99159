package emulator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestColdStartOnFirstEvent(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.event", "fn", ""), nil)
	if n := h.coldStarts("fn"); n != 0 {
		t.Fatalf("scale-to-zero service started before any event: %d cold starts", n)
	}
	if status := h.postIngress(t, newEvent("e1", "test.event", "k", "hello")); status != http.StatusAccepted {
		t.Fatalf("ingress answered %d", status)
	}
	eventually(t, 10*time.Second, "event delivered", func() bool { return len(h.sink.records()) == 1 })
	if r := h.sink.records()[0]; r.ID != "e1" || r.Data != "hello" || r.Tag != "fn" {
		t.Errorf("delivered %+v", r)
	}
	if n := h.coldStarts("fn"); n != 1 {
		t.Errorf("cold starts = %d, want 1", n)
	}
	if !strings.Contains(h.logs.String(), `"msg":"cold start","ksvc":"fn","duration_ms"`) {
		t.Error("cold start was not logged with its duration")
	}
}

func TestColdStartOnFirstGRPCCall(t *testing.T) {
	h := startEmulator(t, serviceYAML("fn", 0), nil)
	url, _ := h.em.URL("test", "fn")
	conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("first gRPC call to a stopped service: %v", err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v", resp.Status)
	}
	if n := h.coldStarts("fn"); n != 1 {
		t.Errorf("cold starts = %d, want 1", n)
	}
}

func TestScaleToZeroAfterIdle(t *testing.T) {
	h := startEmulator(t, serviceYAML("fn", 0), func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	url, _ := h.em.URL("test", "fn")
	get := func() {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz through activator: %d", resp.StatusCode)
		}
	}
	get()
	rev := h.em.revisions["test/fn"]
	rev.mu.Lock()
	pid := 0
	if rev.proc != nil { // nil if the test was held up past the idle timeout: stopped already
		pid = rev.proc.cmd.Process.Pid
	}
	rev.mu.Unlock()
	eventually(t, 5*time.Second, "scale to zero", func() bool {
		rev.mu.Lock()
		defer rev.mu.Unlock()
		return rev.state == stopped
	})
	if pid != 0 && syscallSignal0(pid) == nil {
		t.Errorf("process %d still alive after scale to zero", pid)
	}
	get()
	if n := h.coldStarts("fn"); n != 2 {
		t.Errorf("cold starts = %d, want 2 (start, idle stop, start again)", n)
	}
}

func TestEventsDuringStartAreNotLost(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0, "START_DELAY", "400ms")+
		strings.Replace(triggerYAML("t", "test.event", "fn", ""), "delivery.order: ordered", "delivery.order: unordered", 1), nil)
	for i := range 5 {
		h.produce(t, newEvent(fmt.Sprint("e", i), "test.event", fmt.Sprint("k", i), ""))
	}
	eventually(t, 10*time.Second, "5 events delivered", func() bool { return len(h.sink.records()) == 5 })
	if n := h.coldStarts("fn"); n != 1 {
		t.Errorf("cold starts = %d, want 1: concurrent events must share one start", n)
	}
}

func TestFilterRoutesOnlyToMatchingTriggers(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("a", 0)+serviceYAML("b", 0)+
		triggerYAML("ta", "type.a", "a", "")+triggerYAML("tb", "type.b", "b", "")+
		triggerYAML("tb-subject", "type.b", "a", "")+
		strings.Replace(triggerYAML("tc", "type.c", "b", ""), "filter: {attributes: {type: type.c}}",
			"filter: {attributes: {type: type.c, subject: wanted}}", 1), nil)
	var events []eventT
	for i := range 10 {
		events = append(events, eventT{fmt.Sprint("a", i), "type.a", ""}, eventT{fmt.Sprint("b", i), "type.b", ""},
			eventT{fmt.Sprint("c", i), "type.c", ""}, eventT{fmt.Sprint("n", i), "type.none", ""})
	}
	events = append(events, eventT{"c-wanted", "type.c", "wanted"})
	for _, e := range events {
		ev := newEvent(e.id, e.typ, "k", "")
		if e.subject != "" {
			ev.SetSubject(e.subject)
		}
		h.produce(t, ev)
	}
	// a gets type.a (ta) and type.b (tb-subject); b gets type.b (tb) and the one c with subject "wanted".
	eventually(t, 10*time.Second, "31 deliveries", func() bool { return len(h.sink.records()) == 31 })
	time.Sleep(300 * time.Millisecond) // let any wrong delivery arrive
	got := map[string]int{}
	for _, r := range h.sink.records() {
		got[r.Tag+"/"+r.Type]++
	}
	want := map[string]int{"a/type.a": 10, "a/type.b": 10, "b/type.b": 10, "b/type.c": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deliveries by subscriber/type = %v, want %v", got, want)
	}
}

type eventT struct{ id, typ, subject string }

func TestOrderedDeliveryPerPartitionKeyUnderLoad(t *testing.T) {
	const events, keys = 10000, 20
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.event", "fn", ""), nil)
	batch := make([]event.Event, 0, events)
	for i := range events {
		// Data is the event's position within its key.
		batch = append(batch, newEvent(fmt.Sprint("e", i), "test.event", fmt.Sprint("room-", i%keys), fmt.Sprint(i/keys)))
	}
	h.produce(t, batch...)
	eventually(t, 60*time.Second, "10k events delivered", func() bool { return len(h.sink.records()) >= events })
	next := map[string]int{}
	seen := map[string]bool{}
	for _, r := range h.sink.records() {
		var seq int
		fmt.Sscan(r.Data, &seq)
		if seq != next[r.Key] {
			t.Fatalf("key %s: got seq %d, want %d", r.Key, seq, next[r.Key])
		}
		next[r.Key]++
		if seen[r.ID] {
			t.Fatalf("event %s delivered twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(next) != keys || len(seen) != events {
		t.Errorf("saw %d keys and %d events, want %d and %d", len(next), len(seen), keys, events)
	}
}

func TestRetryThenDeadLetter(t *testing.T) {
	delivery := `  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT0.01S
    deadLetterSink: {uri: "{{SINK}}/dls"}
`
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+
		triggerYAML("fail", "test.fail", "fn", delivery)+triggerYAML("poison", "test.poison", "fn", delivery), nil)
	h.produce(t, newEvent("f1", "test.fail", "k", "x"), newEvent("p1", "test.poison", "k", "y"))
	eventually(t, 10*time.Second, "two dead letters", func() bool { return len(h.sink.deadLetters()) == 2 })
	if n := h.sink.count(func(r record) bool { return r.ID == "f1" }); n != 3 {
		t.Errorf("test.fail attempts = %d, want 3 (1 + 2 retries)", n)
	}
	if n := h.sink.count(func(r record) bool { return r.ID == "p1" }); n != 1 {
		t.Errorf("test.poison attempts = %d, want 1: a 400 is not retried", n)
	}
	codes := map[string]any{}
	for _, e := range h.sink.deadLetters() {
		codes[e.ID()] = e.Extensions()["knativeerrorcode"]
		if dest, _ := e.Extensions()["knativeerrordest"].(string); !strings.HasPrefix(dest, "http://") {
			t.Errorf("dead letter %s lacks knativeerrordest: %v", e.ID(), e.Extensions())
		}
		if _, okData := e.Extensions()["knativeerrordata"]; !okData {
			t.Errorf("dead letter %s lacks knativeerrordata", e.ID())
		}
	}
	if fmt.Sprint(codes["f1"]) != "500" || fmt.Sprint(codes["p1"]) != "400" {
		t.Errorf("knativeerrorcode = %v, want f1:500 p1:400", codes)
	}
}

func TestDeadLetterToKafkaSink(t *testing.T) {
	delivery := `  delivery:
    retry: 0
    deadLetterSink: {ref: {apiVersion: eventing.knative.dev/v1alpha1, kind: KafkaSink, name: dead-letter}}
`
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("fail", "test.fail", "fn", delivery), nil)
	h.produce(t, newEvent("f1", "test.fail", "k", "x"))
	if rec := h.firstDeadLetter(t); string(rec.Value) != "x" {
		t.Fatalf("dead-letter topic holds %v", rec)
	}
}

func TestReplyIsRoutedToAnotherTrigger(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("a", 0)+serviceYAML("b", 0)+
		triggerYAML("ask", "test.reply", "a", "")+triggerYAML("answer", "test.replied", "b", ""), nil)
	h.produce(t, newEvent("q1", "test.reply", "room-1", "ping"))
	eventually(t, 10*time.Second, "reply delivered to b", func() bool {
		return h.sink.count(func(r record) bool { return r.Tag == "b" && r.ID == "q1-reply" }) == 1
	})
	for _, r := range h.sink.records() {
		if r.Tag == "b" && (r.Key != "room-1" || r.Data != "ping") {
			t.Errorf("reply lost its partition key or data: %+v", r)
		}
	}
}

func TestSubscriberCrashMidRequestIsRedelivered(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.crash", "fn",
		"  delivery: {retry: 3, backoffDelay: PT0.05S}\n"), nil)
	h.produce(t, newEvent("c1", "test.crash", "k", ""))
	eventually(t, 15*time.Second, "redelivery after crash", func() bool { return len(h.sink.records()) == 1 })
	if n := testutilCount(h.em.metrics.crashes, "fn"); n != 1 {
		t.Errorf("crashes = %v, want 1", n)
	}
	if n := h.coldStarts("fn"); n != 2 {
		t.Errorf("cold starts = %d, want 2 (before and after the crash)", n)
	}
}

func TestMinScaleServiceIsKeptRunning(t *testing.T) {
	h := startEmulator(t, serviceYAML("always", 1), func(c *Config) { c.IdleTimeout = 50 * time.Millisecond })
	eventually(t, 10*time.Second, "min-scale start", func() bool { return h.coldStarts("always") == 1 })
	rev := h.em.revisions["test/always"]
	rev.mu.Lock()
	pid := rev.proc.cmd.Process.Pid
	rev.mu.Unlock()
	time.Sleep(200 * time.Millisecond) // several idle windows
	if h.coldStarts("always") != 1 || syscallSignal0(pid) != nil {
		t.Fatal("min-scale service was scaled to zero")
	}
	syscallKill(pid)
	eventually(t, 10*time.Second, "restart after crash", func() bool { return h.coldStarts("always") == 2 })
}

// Offsets are committed periodically, not per poll: a quiet Trigger still
// commits what it delivered within commitEvery, and a stopping emulator
// commits what it delivered since, so a restart redelivers nothing.
func TestDeliveredOffsetsAreCommittedWhenQuietAndOnShutdown(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.commit", "fn", ""), nil)
	committed := func() int64 { return h.committed(t, "t") }
	send := func(from, n int) {
		for i := range n {
			h.produce(t, newEvent(fmt.Sprint("c", from+i), "test.commit", fmt.Sprint("k", i%4), ""))
		}
		eventually(t, 10*time.Second, "delivered", func() bool { return h.delivered("t") == from+n })
	}
	send(0, 1) // the first poll commits at once
	eventually(t, 3*commitEvery, "first offset committed", func() bool { return committed() == 1 })
	send(1, 19) // these are due a commit within commitEvery, with no further poll to trigger it
	eventually(t, 3*commitEvery, "offsets committed while quiet", func() bool { return committed() == 20 })

	send(20, 5)
	h.stop()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil // for the cleanup
	if n := committed(); n != 25 {
		t.Fatalf("committed offsets after shutdown = %d, want 25", n)
	}
}

// A stopping emulator commits an ordered Trigger's poll as far as each
// partition got: the deliveries that ended are not redelivered after a
// restart, the one cut short and those behind it are.
func TestStoppingCommitsAPartlyDeliveredPollUpToTheFirstUnfinishedEvent(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.slow", "fn", ""), nil)
	var events []event.Event
	for i := range 4 {
		events = append(events, newEvent(fmt.Sprint("fast", i), "test.slow", "k", "0s"))
	}
	events = append(events, newEvent("slow", "test.slow", "k", "2s"), newEvent("behind", "test.slow", "k", "0s"))
	h.produce(t, events...) // one batch, one poll
	eventually(t, 10*time.Second, "the fast events", func() bool { return h.delivered("t") == 4 })
	h.stop()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil // for the cleanup
	if n := h.committed(t, "t"); n != 4 {
		t.Fatalf("committed offsets after shutdown = %d, want 4", n)
	}
}

// An unordered Trigger keeps delivering while an event is slow (or waiting
// out its retries), and commits its partition only up to that event.
func TestUnorderedDeliveryIsNotHeldUpBySlowEventButItsCommitIs(t *testing.T) {
	trigger := strings.Replace(triggerYAML("t", "test.slow", "fn", ""), "delivery.order: ordered", "delivery.order: unordered", 1)
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+trigger, nil)
	committed := func() int64 { return h.committed(t, "t") }
	h.produce(t, newEvent("slow", "test.slow", "k", "4s"))
	// Its delivery started the function: the next events come in later polls.
	eventually(t, 10*time.Second, "the slow event's delivery", func() bool { return h.coldStarts("fn") == 1 })
	for i := range 5 {
		h.produce(t, newEvent(fmt.Sprint("fast", i), "test.slow", "k", "0s"))
	}
	eventually(t, 10*time.Second, "the fast events", func() bool { return len(h.sink.records()) == 5 })
	if h.sink.count(func(r record) bool { return r.ID == "slow" }) != 0 {
		t.Fatal("the fast events waited for the slow one")
	}
	time.Sleep(2 * commitEvery) // commits fall due meanwhile
	if n := committed(); n > 0 {
		t.Fatalf("committed %d offsets while the first event of the partition was still in flight", n)
	}
	eventually(t, 15*time.Second, "the slow event", func() bool { return len(h.sink.records()) == 6 })
	eventually(t, 3*commitEvery, "all committed", func() bool { return committed() == 6 })
}

func TestInFlightCommitsUpToTheFirstUnfinishedEvent(t *testing.T) {
	f := newInFlight("events")
	rec := func(part int32, off int64) *kgo.Record {
		return &kgo.Record{Topic: "events", Partition: part, Offset: off, LeaderEpoch: 1}
	}
	expect := func(what string, want map[int32]int64) {
		t.Helper()
		got := map[int32]int64{}
		for part, o := range f.committable()["events"] {
			got[part] = o.Offset
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: commit points %v, want %v", what, got, want)
		}
	}
	for off := range int64(5) {
		f.add(rec(0, off), false)
	}
	f.add(rec(1, 7), false)
	f.done(rec(0, 2))
	f.done(rec(1, 7))
	expect("partition 0's first event in flight", map[int32]int64{1: 8})
	f.done(rec(0, 0))
	expect("0 done, 1 in flight", map[int32]int64{0: 1})
	expect("nothing new", map[int32]int64{})
	f.done(rec(0, 1))
	expect("0..2 done", map[int32]int64{0: 3})
	if f.empty() {
		t.Fatal("3 and 4 are still in flight")
	}
	// Consumed again from offset 3 (revoked and assigned back): the old
	// flights no longer count.
	f.add(rec(0, 3), false)
	f.done(rec(0, 3))
	expect("after the partition was consumed again", map[int32]int64{0: 4})
	if !f.empty() {
		t.Fatal("nothing is in flight any more")
	}
	f.add(rec(1, 8), true) // dropped by the filter: nothing to wait for
	expect("a record the filter drops", map[int32]int64{1: 9})
}

// Under a steady stream of other events, a Trigger whose filter matches
// none of them polls far less often than once per event, and still
// delivers the event it wants.
func TestTriggerForARareTypePollsLessWhileTheTopicIsBusy(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+
		triggerYAML("busy", "test.busy", "fn", "")+triggerYAML("rare", "test.rare", "fn", ""), nil)
	// One event a millisecond, each produced without waiting for the
	// last one's ack, so the pace holds on a loaded machine too.
	const events = 300
	var producing sync.WaitGroup
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for i := range events {
		<-pace.C
		producing.Go(func() {
			if err := h.produceErr(newEvent(fmt.Sprint("b", i), "test.busy", fmt.Sprint("k", i%4), "")); err != nil {
				t.Error(err)
			}
		})
	}
	producing.Wait()
	h.produce(t, newEvent("r", "test.rare", "k", ""))
	eventually(t, 10*time.Second, "the rare event", func() bool { return h.sink.count(func(r record) bool { return r.ID == "r" }) == 1 })
	eventually(t, 10*time.Second, "the busy events", func() bool { return len(h.sink.records()) == events+1 })
	if polls := testutilCount(h.em.metrics.polls, "test/rare"); polls > events/2 {
		t.Errorf("the rare Trigger polled %v times for %d events it did not want", polls, events)
	}
}

func TestEventRateCountsTheLastWindows(t *testing.T) {
	var r eventRate
	t0 := time.Now()
	for _, step := range []struct {
		at        time.Duration
		add, want int
	}{
		{0, 30, 30},
		{50 * time.Millisecond, 30, 60},
		{150 * time.Millisecond, 5, 65},  // a new window: the previous one still counts
		{250 * time.Millisecond, 0, 5},   // the first window is gone
		{600 * time.Millisecond, 10, 10}, // quiet for two windows: nothing before counts
	} {
		if got := r.add(step.add, t0.Add(step.at)); got != step.want {
			t.Errorf("at %v: %d events, want %d", step.at, got, step.want)
		}
	}
}

// Events reach a Service's process without the activator's HTTP hop, but
// through the same gate: a delivery keeps the process from being scaled to
// zero while it runs, and the process scales to zero once deliveries end.
func TestEventDeliveryHoldsAndThenReleasesTheService(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.slow", "fn", ""),
		func(c *Config) { c.IdleTimeout = 100 * time.Millisecond })
	h.produce(t, newEvent("s1", "test.slow", "k", "1s")) // ten idle windows long
	eventually(t, 10*time.Second, "the slow event", func() bool { return len(h.sink.records()) == 1 })
	// Handled: the delivery is about to end, at least an idle window before
	// the service may be scaled down.
	if strings.Contains(h.logs.String(), `"msg":"scaling to zero"`) {
		t.Fatal("the service was scaled to zero during the delivery")
	}
	rev := h.em.revisions["test/fn"]
	eventually(t, 5*time.Second, "scale to zero after the delivery", func() bool {
		rev.mu.Lock()
		defer rev.mu.Unlock()
		return rev.state == stopped
	})
}
