package emulator

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parley-chat/parley/knative/procstat"
)

// BenchmarkBrokerCPUPerMessage runs Parley's Trigger shape at issue 16's
// rate: 500 messages/s produced to the Broker's topic; four Triggers take
// them (persist and moderation take the message, persist replies stored as
// persist does, and notification and search take that), and the rest
// filter for other types, as every Trigger of a Kafka Broker fetches every
// event. Two shapes side by side: one Trigger per (type, subscriber), the
// 19 Parley had, and one per (subscriber, delivery order) taking its types
// with an `any` filter, the 6 it has. It reports this process's CPU per
// message (kfake, the emulated Broker, and the benchmark's producer and
// subscriber, which are small beside them) and the Triggers' polls per
// message: units of work, which hold on a busy machine.
func BenchmarkBrokerCPUPerMessage(b *testing.B) {
	for _, shape := range []struct {
		name      string
		filtering int
	}{{"triggers=19", 15}, {"triggers=6", 2}} {
		b.Run(shape.name, func(b *testing.B) { brokerCPUPerMessage(b, shape.filtering) })
	}
}

func brokerCPUPerMessage(b *testing.B, filtering int) {
	const rate, seconds = 500, 10
	var delivered atomic.Int64
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered.Add(1)
		if r.Header.Get("Ce-Type") == "sent" && r.URL.Path == "/persist" {
			w.Header().Set("Ce-Specversion", "1.0")
			w.Header().Set("Ce-Id", "stored-"+r.Header.Get("Ce-Id"))
			w.Header().Set("Ce-Source", "bench")
			w.Header().Set("Ce-Type", "stored")
			w.Header().Set("Ce-Partitionkey", r.Header.Get("Ce-Partitionkey"))
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"` + r.Header.Get("Ce-Id") + `"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sub.Close()
	var m strings.Builder
	m.WriteString(brokerYAML)
	trigger := func(name, ceType, path string) {
		fmt.Fprintf(&m, `
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: %s
  namespace: test
  annotations: {kafka.eventing.knative.dev/delivery.order: unordered}
spec:
  broker: default
  filter: {attributes: {type: %s}}
  subscriber: {uri: %q}
`, name, ceType, sub.URL+path)
	}
	trigger("persist", "sent", "/persist")
	trigger("moderation", "sent", "/moderation")
	trigger("notification", "stored", "/notification")
	trigger("search", "stored", "/search")
	for i := range filtering {
		trigger("other-"+strconv.Itoa(i), "other-"+strconv.Itoa(i), "/other")
	}
	h := startEmulator(b, m.String(), nil)
	polled := func() float64 { // over every Trigger
		var sum float64
		for _, d := range h.em.dispatchers {
			sum += testutil.ToFloat64(h.em.metrics.polls.WithLabelValues(d.name))
		}
		return sum
	}
	text := `{"text":"` + strings.Repeat("x", 100) + `"}`
	n := 0
	produce := func(count int) {
		batch := make([]event.Event, count)
		for i := range batch {
			batch[i] = newEvent(strconv.Itoa(n), "sent", "room-"+strconv.Itoa(n%10), text)
			n++
		}
		h.produce(b, batch...)
	}
	// Warm-up: every Trigger has joined its group and delivered.
	produce(rate)
	eventually(b, time.Minute, "warm-up delivered", func() bool { return delivered.Load() >= 4*int64(n) })
	for b.Loop() {
		start, polls := delivered.Load(), polled()
		before, err := procstat.Read(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		first := n
		tick := time.NewTicker(10 * time.Millisecond)
		for end := time.Now().Add(seconds * time.Second); time.Now().Before(end); <-tick.C {
			produce(rate / 100)
		}
		tick.Stop()
		msgs := int64(n - first)
		eventually(b, time.Minute, "delivered", func() bool { return delivered.Load()-start >= 4*msgs })
		after, err := procstat.Read(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((after.CPU-before.CPU).Microseconds())/float64(msgs), "cpu_us/msg")
		b.ReportMetric((polled()-polls)/float64(msgs), "polls/msg")
	}
}
