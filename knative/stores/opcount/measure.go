package opcount

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/knative/procstat"
)

// storeServers are the processes whose CPU a run reports: the stores the
// test binary started (devstack runs them as its children).
var storeServers = []string{"ferretdb", "postgres", "redis-server"}

// Run is what Measure saw.
type Run struct {
	Messages int
	Counts   map[string]int64
	// CPU each store server used, by process name, and this process (the
	// function's own work, the drivers and the load).
	CPU map[string]time.Duration
}

// maxInFlight is how many deliveries an unordered Trigger makes at once
// (the emulator's bound, and Knative's default for its dispatcher).
const maxInFlight = 256

// Measure delivers messages 0..n-1 to handle at rate per second, each in
// its own goroutine as an unordered Trigger does, and counts c's commands
// and the store servers' CPU meanwhile. A failed delivery is retried,
// as the Trigger would; one failing 10 times ends the run with its error.
func Measure(c *Counter, n int, rate float64, handle func(i int) error) (Run, error) {
	before, err := procstat.All()
	if err != nil {
		return Run{}, err
	}
	self, _ := procstat.Read(os.Getpid())
	c.Reset()
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range n {
		time.Sleep(time.Until(begin.Add(time.Duration(i) * interval)))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var err error
			for range 10 {
				if err = handle(i); err == nil {
					return
				}
			}
			once.Do(func() { first = fmt.Errorf("opcount: message %d: %w", i, err) })
		}()
	}
	wg.Wait()
	after, err := procstat.All()
	if err != nil {
		return Run{}, err
	}
	r := Run{Messages: n, Counts: c.Counts(), CPU: map[string]time.Duration{}}
	for name, cpu := range after.Tree(os.Getpid()).Named(storeServers...).Since(before) {
		r.CPU[name] = cpu
	}
	if now, err := procstat.Read(os.Getpid()); err == nil {
		r.CPU["this process"] = now.CPU - self.CPU
	}
	return r, first
}

// Report logs the table and reports each count per message, and each
// server's CPU in microseconds per message, as benchmark metrics.
func (r Run) Report(b *testing.B) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d messages; store commands per message:\n%s", r.Messages, Table(r.Counts, r.Messages))
	var total int64
	for op, v := range r.Counts {
		total += v
		b.ReportMetric(float64(v)/float64(r.Messages), strings.ReplaceAll(op, " ", "_")+"/msg")
	}
	b.ReportMetric(float64(total)/float64(r.Messages), "store_ops/msg")
	sb.WriteString("CPU per message:\n")
	for name, cpu := range r.CPU {
		us := float64(cpu.Microseconds()) / float64(r.Messages)
		b.ReportMetric(us, strings.ReplaceAll(name, " ", "_")+"_cpu_us/msg")
		fmt.Fprintf(&sb, "  %-44s %8.1f µs\n", name, us)
	}
	b.Log("\n" + sb.String())
}
