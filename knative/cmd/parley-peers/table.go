package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/parley-chat/parley/connector/loadgen"
)

// measure is one row: how to read it from a run, and its unit.
type measure struct {
	name string
	of   func(loadgen.Result) float64
}

var s1Measures = []measure{
	{"deliveries/s", func(r loadgen.Result) float64 { return r.DeliveredPerSecond }},
	{"delivery ratio", func(r loadgen.Result) float64 { return r.DeliveryRatio }},
	{"sends rejected", func(r loadgen.Result) float64 { return float64(rejected(r)) }},
	{"p50 ms", func(r loadgen.Result) float64 { return r.LatencyMS.P50 }},
	{"p99 ms", func(r loadgen.Result) float64 { return r.LatencyMS.P99 }},
	{"socket server CPU, cores", func(r loadgen.Result) float64 { return r.ConnectorCPUCores }},
	{"all server processes CPU, cores", func(r loadgen.Result) float64 { return r.StackCPUCores }},
	{"socket server CPU µs/delivery", perDelivery},
	{"machine CPU busy, cores", func(r loadgen.Result) float64 { return r.MachineBusyCores }},
}

var maxMeasures = []measure{
	{"max deliveries/s, p99 < 100 ms", func(r loadgen.Result) float64 { return r.DeliveredPerSecond }},
	{"  p99 ms there", func(r loadgen.Result) float64 { return r.LatencyMS.P99 }},
	{"  socket server CPU µs/delivery", perDelivery},
	{"  machine CPU busy, cores", func(r loadgen.Result) float64 { return r.MachineBusyCores }},
}

var idleMeasures = []measure{
	{"KB per idle socket", func(r loadgen.Result) float64 { return r.ServerBytesPerConnection / 1024 }},
}

func perDelivery(r loadgen.Result) float64 {
	if r.DeliveredPerSecond == 0 {
		return 0
	}
	return r.ConnectorCPUCores / r.DeliveredPerSecond * 1e6
}

func rejected(r loadgen.Result) (n int64) {
	for _, v := range r.Rejected {
		n += v
	}
	return n
}

// printTable writes one table: a column per server, and beside each
// Parley column its ratio to Centrifugo's.
func printTable(w io.Writer, res *results) {
	if len(res.S1)+len(res.Max)+len(res.Idle) == 0 && res.Floor == nil {
		return
	}
	fmt.Fprintf(w, "\n%s\n%d CPUs; load = the machine's 1-minute load average as each run began.\n\n", res.Description, res.CPUs)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tmeasure\t%s\t%s\t÷C\t%s\t÷C\t\n", servers[0], servers[1], servers[2])
	section := func(label string, ms []measure, runs map[string]*loadRun) {
		if len(runs) == 0 {
			return
		}
		for i, m := range ms {
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t", label, m.name)
			base := runs[centrifugoRedis]
			for j, name := range servers {
				r := runs[name]
				if r == nil {
					fmt.Fprint(tw, "—\t")
				} else {
					fmt.Fprintf(tw, "%s\t", num(m.of(r.Result)))
				}
				if j > 0 {
					fmt.Fprintf(tw, "%s\t", ratio(r, base, m))
				}
			}
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "\tload\t")
		for j, name := range servers {
			if r := runs[name]; r != nil {
				fmt.Fprintf(tw, "%.1f\t", r.Load1)
			} else {
				fmt.Fprint(tw, "—\t")
			}
			if j > 0 {
				fmt.Fprint(tw, "\t")
			}
		}
		fmt.Fprintln(tw)
	}
	section("S1", s1Measures, res.S1)
	best := map[string]*loadRun{}
	for name, m := range res.Max {
		if m.Best != nil {
			best[name] = m.Best
		}
	}
	section("max", maxMeasures, best)
	section("idle", idleMeasures, res.Idle)
	tw.Flush()
	for line := range strings.Lines(buf.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	if res.Floor != nil {
		fmt.Fprintf(w, "\ngoal 2: the floor (Kafka + InsertMany, %d messages) costs %.3f ms of CPU per message", res.Floor.Messages, res.Floor.CPUMSPerMessage)
		if res.PipelineMS > 0 {
			fmt.Fprintf(w, "; the pipeline in S1 (every Trigger, all server processes but the connector) %.3f ms: %.1f× the floor",
				res.PipelineMS, res.PipelineMS/res.Floor.CPUMSPerMessage)
		}
		fmt.Fprintf(w, " (machine busy %.2f cores while the floor ran)\n", res.Floor.MachineBusy)
	}
	for _, name := range servers {
		if m := res.Max[name]; m != nil && m.Best == nil {
			fmt.Fprintf(w, "max: %s sustained no rate tried\n", name)
		}
	}
}

func ratio(r, base *loadRun, m measure) string {
	if r == nil || base == nil {
		return "—"
	}
	b := m.of(base.Result)
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", m.of(r.Result)/b)
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
