package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-chat/parley/connector/loadgen"
)

// benchConnector is a connector replica reached directly (no activator hop),
// with per-user limits lifted for publishers faster than people and more
// sockets per account than people open.
func benchConnector(b *testing.B) (url, metrics string) {
	port := freePort()
	r := startConnector(&testing.T{}, "WS_SEND_RATE=100000", "WS_SEND_BURST=100000", "WS_FRAME_RATE=100000",
		"WS_FRAME_BURST=100000", "WS_SEND_QUEUE=4096", "WS_SOCKETS_PER_USER=100000", "METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=warn")
	b.Cleanup(func() { r.cmd.Process.Kill(); r.cmd.Wait() })
	return r.url, "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
}

func report(b *testing.B, name string, r loadgen.Result) {
	b.ReportMetric(r.DeliveredPerSecond, "delivered/s")
	b.ReportMetric(r.DeliveryRatio, "delivery_ratio")
	b.ReportMetric(r.LatencyMS.P99, "p99_ms")
	if r.DeliveredPerSecond > 0 {
		b.ReportMetric(r.MachineBusyCores/r.DeliveredPerSecond*1e6, "machine_cpu_us/delivery")
	}
	if r.PublishedPerSecond > 0 && r.ProcessCPUCores != nil {
		b.ReportMetric((r.StackCPUCores-r.ConnectorCPUCores)/r.PublishedPerSecond*1e6, "pipeline_cpu_us/message")
	}
	b.Logf("%s: sends: %d asked, %d written, %d acked, rejected %v, %d write errors, %d unanswered, max lag %.1f ms; server CPU %.2f cores (connector %.2f) by process %v",
		name, r.Asked, r.Offered, r.Published, r.Rejected, r.SendErrors, r.Unanswered, r.MaxLagMS, r.StackCPUCores, r.ConnectorCPUCores, r.ProcessCPUCores)
	b.Logf("%s: %d clients/%d rooms/%d publishers at %.0f/s: published %.0f/s delivered %.0f/s ratio %.4f latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms; connect p50 %.1f ms; the load generator (its own process) used %.2f cores, the machine %.2f",
		name, r.Clients, r.Rooms, r.Publishers, r.Rate, r.PublishedPerSecond, r.DeliveredPerSecond, r.DeliveryRatio,
		r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max, r.ConnectMS.P50, r.LoadgenCPUCores, r.MachineBusyCores)
}

func benchDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BENCH_DURATION")); err == nil {
		return d
	}
	return 10 * time.Second
}

// BenchmarkRedaction measures the time from a toxic message's ack to its
// redaction reaching another member: Kafka, the Trigger, moderation's
// inference, the flagged reply, persist, and the fan-out.
func BenchmarkRedaction(b *testing.B) {
	ada, bob := newUser(b), newUser(b)
	room := newRoom(b, ada, bob)
	a := dial(b, plat.url, ada)
	other := dial(b, plat.url, bob)
	other.subscribe(room, 0)
	// It runs before the load benchmarks, which leave persist a backlog of
	// messages for minutes (a flag applies once its message is stored); the
	// warm-up makes sure nothing is queued ahead when it runs alone or later.
	warm := a.sendText(room, "warm-up, you idiot").str("message_id")
	other.expectWithin(8*time.Minute, "redacted", func(f frame) bool { return f.msg().str("id") == warm })
	for b.Loop() {
		var lat []time.Duration
		for i := range 50 {
			ack := a.sendText(room, fmt.Sprint("you idiot number ", i))
			acked := time.Now()
			id := ack.str("message_id")
			other.expect("redacted", func(f frame) bool { return f.msg().str("id") == id })
			lat = append(lat, time.Since(acked))
			time.Sleep(20 * time.Millisecond)
		}
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
		b.ReportMetric(ms(lat[len(lat)*99/100]), "p99_ms")
		b.Logf("ack → redaction at another member over 50 toxic messages: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
			ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]))
	}
}

// BenchmarkFanout runs the load generator against the whole local stack
// (connector, Redis, Kafka, and the functions consuming every message).
func BenchmarkFanout(b *testing.B) {
	url, _ := benchConnector(b)
	cases := []loadgen.Config{
		{Clients: 1000, Rooms: 10, Publishers: 10, Rate: 50},
		{Clients: 1000, Rooms: 10, Publishers: 10, Rate: 150},
		{Clients: 1000, Rooms: 10, Publishers: 10, Rate: 300},
		{Clients: 1000, Rooms: 10, Publishers: 100, Rate: 15},
		{Clients: 1000, Rooms: 10, Publishers: 100, Rate: 30},
	}
	for i, c := range cases {
		name := fmt.Sprintf("%dpub_%.0fps", c.Publishers, c.Rate)
		b.Run(name, func(b *testing.B) {
			c.URL, c.Duration, c.Prefix = url, benchDuration(), fmt.Sprintf("bench%d_", i)
			for b.Loop() {
				report(b, name, runLoad(b, c))
			}
		})
	}
}

// runLoad runs the load generator (parley-load) as its own process, so the
// CPU it reports is its own: this process also runs kfake and the emulated
// Broker.
func runLoad(b *testing.B, c loadgen.Config) loadgen.Result {
	b.Helper()
	out := filepath.Join(b.TempDir(), "result.json")
	cmd := exec.Command(filepath.Join(plat.binDir, "parley-load"), "-url", c.URL, "-clients", strconv.Itoa(c.Clients),
		"-rooms", strconv.Itoa(c.Rooms), "-publishers", strconv.Itoa(c.Publishers), "-rate", fmt.Sprint(c.Rate),
		"-duration", c.Duration.String(), "-prefix", c.Prefix, "-json", out,
		"-stack-pid", strconv.Itoa(os.Getpid())) // every server runs under this process
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("parley-load: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	var r loadgen.Result
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatalf("parley-load result: %v", err)
	}
	return r
}

// BenchmarkIdleConnections measures the connector's memory per idle,
// subscribed connection.
func BenchmarkIdleConnections(b *testing.B) {
	url, metrics := benchConnector(b)
	for b.Loop() {
		r, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Clients: 10000, Rooms: 100, Users: 100,
			Idle: true, MetricsURL: metrics, Prefix: "idle"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.ServerBytesPerConnection/1024, "KB/conn")
		b.Logf("10000 idle connections: server RSS %.1f MB -> %.1f MB, %.1f KB per connection (heap in use %.1f MB, stacks %.1f MB); connect p50 %.1f ms p99 %.1f ms",
			r.ServerRSSBeforeBytes/1e6, r.ServerRSSBytes/1e6, r.ServerBytesPerConnection/1024,
			r.ServerHeapInuseBytes/1e6, r.ServerStackInuseBytes/1e6, r.ConnectMS.P50, r.ConnectMS.P99)
	}
}
