package emulator

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// BenchmarkColdStart measures, through the activator, the time from a
// request's arrival at a stopped service to its response, over 50 cold starts.
func BenchmarkColdStart(b *testing.B) {
	const starts = 50
	h := startEmulator(b, serviceYAML("fn", 0), nil)
	url, _ := h.em.URL("test", "fn")
	rev := h.em.revisions["test/fn"]
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for b.Loop() {
		var d []time.Duration
		for range starts {
			rev.stop()
			begin := time.Now()
			resp, err := client.Get(url + "/healthz")
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			d = append(d, time.Since(begin))
		}
		if n := h.coldStarts("fn"); n < starts {
			b.Fatalf("only %d cold starts", n)
		}
		reportPercentiles(b, "cold_start", d)
	}
}

// BenchmarkBrokerThroughput measures events/s from the topic to a trivial
// subscriber, and produce→subscriber latency at a steady 5,000 events/s.
func BenchmarkBrokerThroughput(b *testing.B) {
	for _, order := range []string{"unordered", "ordered"} {
		b.Run(order, func(b *testing.B) {
			var received atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent, _ := strconv.ParseInt(r.Header.Get("Ce-Sentnanos"), 10, 64)
				d := time.Duration(time.Now().UnixNano() - sent)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				received.Add(1)
			}))
			defer sub.Close()
			manifests := brokerYAML + fmt.Sprintf(`
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: bench
  namespace: test
  annotations: {kafka.eventing.knative.dev/delivery.order: %s}
spec:
  broker: default
  subscriber: {uri: %q}
`, order, sub.URL)
			h := startEmulator(b, manifests, nil)
			mk := func(i int) event.Event {
				e := newEvent(strconv.Itoa(i), "bench", "room-"+strconv.Itoa(i%100), "x")
				e.SetExtension("sentnanos", strconv.FormatInt(time.Now().UnixNano(), 10))
				return e
			}
			for b.Loop() {
				// Burst: how fast the backlog drains.
				const burst = 20000
				evs := make([]event.Event, burst)
				for i := range evs {
					evs[i] = mk(i)
				}
				begin := time.Now()
				h.produce(b, evs...)
				eventually(b, 2*time.Minute, "burst delivered", func() bool { return received.Load() >= burst })
				b.ReportMetric(float64(burst)/time.Since(begin).Seconds(), "events/s")

				// Steady rate: latency when the broker keeps up.
				mu.Lock()
				lat = lat[:0]
				mu.Unlock()
				received.Store(0)
				const rate, seconds = 5000, 4
				tick := time.NewTicker(10 * time.Millisecond)
				n := 0
				var produceErr atomic.Value
				for end := time.Now().Add(seconds * time.Second); time.Now().Before(end); <-tick.C {
					batch := make([]event.Event, rate/100)
					for i := range batch {
						batch[i] = mk(burst + n)
						n++
					}
					go func() {
						if err := h.produceErr(batch...); err != nil {
							produceErr.Store(err)
						}
					}()
				}
				tick.Stop()
				if err, _ := produceErr.Load().(error); err != nil {
					b.Fatal(err)
				}
				eventually(b, time.Minute, "steady events delivered", func() bool { return received.Load() >= int64(n) })
				mu.Lock()
				reportPercentiles(b, "latency_at_5k/s", lat)
				mu.Unlock()
			}
		})
	}
}

func reportPercentiles(b *testing.B, name string, d []time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	pct := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), name+"_p50_ms")
	b.ReportMetric(pct(0.99), name+"_p99_ms")
	b.Logf("%s over %d samples: p50 %.2f ms, p99 %.2f ms, max %.2f ms", name, len(s), pct(0.50), pct(0.99),
		float64(s[len(s)-1].Microseconds())/1000)
}
