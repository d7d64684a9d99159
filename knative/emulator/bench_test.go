package emulator

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// BenchmarkColdStart measures, through the activator, the time from a
// request's arrival at a stopped service to its response, over 50 cold
// starts, and the resident memory of the running service: as a bare
// process and as a pod with queue-proxy, side by side, so the difference
// is what queue-proxy costs per Service.
func BenchmarkColdStart(b *testing.B) {
	for _, mode := range []struct{ name, queueProxy string }{{"bare", ""}, {"queue-proxy", queueBin}} {
		b.Run(mode.name, func(b *testing.B) {
			const starts = 50
			h := startEmulator(b, serviceYAML("fn", 0), func(c *Config) { c.QueueProxy = mode.queueProxy })
			if mode.queueProxy != "" && h.em.queueBin == "" {
				b.Fatalf("pods unavailable: %v", PodsSupported())
			}
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
			rev.mu.Lock()
			p := rev.proc
			rev.mu.Unlock()
			b.ReportMetric(rssMiB(b, p), "service_rss_MiB")
			if p.queue != nil {
				b.ReportMetric(rssMiB(b, p.queue), "queue_proxy_rss_MiB")
			}
		})
	}
}

// rssMiB is a process's resident memory, from /proc.
func rssMiB(b *testing.B, p *process) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatalf("VmRSS %q: %v", v, err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS in /proc status")
	return 0
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

// BenchmarkPodForwarder measures what the forwarder costs a pod's traffic
// to the host (the connector's Redis and Kafka calls): 16-byte request and
// reply round trips over one connection, direct on the host loopback and
// from inside a pod through the forwarder.
func BenchmarkPodForwarder(b *testing.B) {
	if err := PodsSupported(); err != nil {
		b.Fatalf("pods unavailable: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	pn, err := newPodNet(fmt.Sprintf("%s%d-bench", podNetPrefix, os.Getpid()))
	if err != nil {
		b.Fatal(err)
	}
	defer pn.close()
	if err := pn.forward(port); err != nil {
		b.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for b.Loop() {
		direct, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		viaPod, err := pn.dial(context.Background(), addr)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name string
			conn net.Conn
		}{{"direct", direct}, {"forwarded", viaPod}} {
			const trips = 20000
			msg, reply := make([]byte, 16), make([]byte, 16)
			d := make([]time.Duration, 0, trips)
			for range trips {
				begin := time.Now()
				if _, err := c.conn.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c.conn, reply); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(begin))
			}
			c.conn.Close()
			reportPercentiles(b, c.name+"_round_trip", d)
		}
	}
}
