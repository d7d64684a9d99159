package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-chat/parley/connector/loadgen"
)

// scaleResult is goal 5's scenario: the S1 shape without Triggers against
// one connector, then against several behind the same Redis with every
// room's members dealt round them (people in many rooms, one socket each,
// placed at random), then with each room's members on one of them (a load
// balancer routing by room), and the DM shape (rooms of two) on one
// connector, which separates a send's cost from a delivery's.
type scaleResult struct {
	Connectors                int
	One, Spread, Placed, Pair *loadRun
	// FramesPerWrite is, per run, the frames the connectors sent ÷ the
	// WebSocket messages they wrote (the hub coalesces what piled up),
	// over the whole run, connecting and warm-up included.
	FramesPerWrite [4]float64
	Summary        scaleSummary
}

// scaleSummary is what the capacity model (knative/capacity) takes from
// the scenario. CPU per unit in µs.
type scaleSummary struct {
	Members float64 // per room in One and Spread
	// Further is how many more connectors each message reaches in Spread
	// than in One.
	Further float64
	// Deliveries per second of connector CPU (per connector-core), One's
	// and Spread's (all its connectors), and Spread ÷ One: goal 5 asks for
	// at least 0.85. The same for Placed.
	OnePerCoreSecond, SpreadPerCoreSecond, Ratio float64
	PlacedPerCoreSecond, PlacedRatio             float64
	// What each further connector a message reaches costs: the connectors'
	// CPU for its envelope (their deliveries being the same) and Redis's
	// for sending it.
	ReceiveUS, PubSubUS float64
	RedisUS             float64 // Redis CPU per message in One (one subscriber)
	// The connector's CPU per message in Pair (2 members), and the line
	// through it and One's per message: send + members × delivery.
	PairUS, SendUS, DeliveryUS float64
}

// scaleGoal is goal 5's bound on Spread ÷ One.
const scaleGoal = 0.85

// scale runs the scenario on p, which has its connectors up.
func (l *loader) scale(ctx context.Context, p *parley) (*scaleResult, error) {
	n := len(p.urls)
	one := target{name: "Parley, 1 connector", url: p.urls[0], metrics: p.metrics, server: loadgen.ServerParley, process: "connector",
		urls: p.urls[:1], pids: p.pids[:1]}
	spread := one
	spread.name, spread.urls, spread.pids = fmt.Sprintf("Parley, %d connectors", n), p.urls, p.pids
	placed := spread
	placed.name, placed.byRoom = fmt.Sprintf("Parley, %d connectors, rooms placed", n), true
	say("%s: priming", one.name)
	if _, err := l.load(ctx, one, loadgen.Config{Clients: l.s.clients, Rate: l.s.rate, Duration: l.s.warmup}); err != nil {
		return nil, fmt.Errorf("scale priming: %w", err)
	}
	res := &scaleResult{Connectors: n}
	pair := one
	pair.name = "Parley, 1 connector, rooms of 2"
	for i, step := range []struct {
		t     target
		rooms int
		run   **loadRun
	}{{one, 0, &res.One}, {spread, 0, &res.Spread}, {placed, 0, &res.Placed}, {pair, l.s.clients / 2, &res.Pair}} {
		frames, writes := p.counters()
		r, err := l.load(ctx, step.t, loadgen.Config{Clients: l.s.clients, Rooms: step.rooms, Rate: l.s.rate, Duration: l.s.duration})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", step.t.name, err)
		}
		*step.run = r
		framesAfter, writesAfter := p.counters()
		res.FramesPerWrite[i] = per(framesAfter-frames, writesAfter-writes)
		say("%s: %.2f frames per socket write", step.t.name, res.FramesPerWrite[i])
	}
	res.Summary = summarize(res.One.Result, res.Spread.Result, res.Placed.Result, res.Pair.Result, n)
	return res, nil
}

// counters sums the frames sent and the WebSocket messages written over
// the bench connectors, from their /metrics.
func (p *parley) counters() (frames, writes float64) {
	for _, u := range p.metricsURLs {
		body, err := get(u)
		if err != nil {
			continue
		}
		frames += sample(body, "parley_connector_frames_out_total")
		writes += sample(body, "parley_connector_socket_writes_total")
	}
	return frames, writes
}

func get(url string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// sample is the value of an unlabelled sample in a Prometheus text
// exposition, 0 when it is not there.
func sample(body, name string) float64 {
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// summarize works out goal 5's ratio and the model's costs from the runs.
func summarize(one, spread, placed, pair loadgen.Result, connectors int) scaleSummary {
	var s scaleSummary
	if one.Rooms > 0 {
		s.Members = float64(one.Clients) / float64(one.Rooms)
	}
	s.Further = min(float64(connectors), s.Members) - 1
	oneCores, spreadCores, pairCores := sum(one.SocketCPUCores), sum(spread.SocketCPUCores), sum(pair.SocketCPUCores)
	s.OnePerCoreSecond = per(one.DeliveredPerSecond, oneCores)
	s.SpreadPerCoreSecond = per(spread.DeliveredPerSecond, spreadCores)
	s.Ratio = per(s.SpreadPerCoreSecond, s.OnePerCoreSecond)
	s.PlacedPerCoreSecond = per(placed.DeliveredPerSecond, sum(placed.SocketCPUCores))
	s.PlacedRatio = per(s.PlacedPerCoreSecond, s.OnePerCoreSecond)
	// One's costs scaled to Spread's deliveries and messages, so that a
	// run that delivered a little more is not charged for it.
	if s.Further > 0 && spread.PublishedPerSecond > 0 {
		extraConnector := spreadCores - oneCores*per(spread.DeliveredPerSecond, one.DeliveredPerSecond)
		s.ReceiveUS = extraConnector / (spread.PublishedPerSecond * s.Further) * 1e6
		redisOne, redisSpread := one.ProcessCPUCores["redis-server"], spread.ProcessCPUCores["redis-server"]
		extraRedis := redisSpread - redisOne*per(spread.PublishedPerSecond, one.PublishedPerSecond)
		s.PubSubUS = extraRedis / (spread.PublishedPerSecond * s.Further) * 1e6
	}
	s.RedisUS = per(one.ProcessCPUCores["redis-server"], one.PublishedPerSecond) * 1e6
	s.PairUS = per(pairCores, pair.PublishedPerSecond) * 1e6
	if oneMessage := per(oneCores, one.PublishedPerSecond) * 1e6; s.Members > 2 && s.PairUS > 0 && oneMessage > 0 {
		s.DeliveryUS = (oneMessage - s.PairUS) / (s.Members - 2)
		s.SendUS = s.PairUS - 2*s.DeliveryUS
	}
	return s
}

func sum(v []float64) (t float64) {
	for _, x := range v {
		t += x
	}
	return t
}

// per is a ÷ b, 0 when b is.
func per(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// printScale writes the scenario's table and what it gives the model.
func printScale(w io.Writer, r *scaleResult) {
	one, spread, placed, pair := r.One.Result, r.Spread.Result, r.Placed.Result, r.Pair.Result
	s := r.Summary
	fmt.Fprintf(w, "\nscale: %d sockets in %d rooms of %.0f, %d publishers × %.0f msg/s, no Triggers; 1 connector, then %d on the same Redis "+
		"(each room's members dealt round them; then each room's on one of them); then rooms of 2 on 1 connector\n\n", one.Clients, one.Rooms,
		s.Members, one.Publishers, one.Rate, r.Connectors)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\t1 connector\t%d connectors\t÷ 1\trooms placed\t÷ 1\trooms of 2\t\n", r.Connectors)
	row := func(name string, a, b, c float64, d string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, num(a), num(b), num(per(b, a)), num(c), num(per(c, a)), d)
	}
	redis := func(r loadgen.Result) float64 {
		return per(r.ProcessCPUCores["redis-server"], r.PublishedPerSecond) * 1e6
	}
	row("deliveries/s", one.DeliveredPerSecond, spread.DeliveredPerSecond, placed.DeliveredPerSecond, num(pair.DeliveredPerSecond))
	row("delivery ratio", one.DeliveryRatio, spread.DeliveryRatio, placed.DeliveryRatio, num(pair.DeliveryRatio))
	row("p99 ms", one.LatencyMS.P99, spread.LatencyMS.P99, placed.LatencyMS.P99, num(pair.LatencyMS.P99))
	row("connector CPU, cores", sum(one.SocketCPUCores), sum(spread.SocketCPUCores), sum(placed.SocketCPUCores), num(sum(pair.SocketCPUCores)))
	fmt.Fprintf(tw, "  each\t%s\t%s\t\t%s\t\t\t\n", cores(one.SocketCPUCores), cores(spread.SocketCPUCores), cores(placed.SocketCPUCores))
	row("deliveries per connector-CPU-second", s.OnePerCoreSecond, s.SpreadPerCoreSecond, s.PlacedPerCoreSecond, "")
	row("Redis CPU µs per message", s.RedisUS, redis(spread), redis(placed), num(redis(pair)))
	row("frames per socket write", r.FramesPerWrite[0], r.FramesPerWrite[1], r.FramesPerWrite[2], num(r.FramesPerWrite[3]))
	row("machine CPU busy, cores", one.MachineBusyCores, spread.MachineBusyCores, placed.MachineBusyCores, num(pair.MachineBusyCores))
	fmt.Fprintf(tw, "load\t%.1f\t%.1f\t\t%.1f\t\t%.1f\t\n", r.One.Load1, r.Spread.Load1, r.Placed.Load1, r.Pair.Load1)
	tw.Flush()
	for line := range strings.Lines(buf.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	verdict := func(ratio float64) string {
		if ratio < scaleGoal {
			return "NOT met"
		}
		return "met"
	}
	fmt.Fprintf(w, "\ngoal 5: deliveries per connector-CPU-second, %d connectors ÷ 1 = %.2f (at least %.2f: %s); rooms placed: %.2f (%s)\n",
		r.Connectors, s.Ratio, scaleGoal, verdict(s.Ratio), s.PlacedRatio, verdict(s.PlacedRatio))
	fmt.Fprintf(w, "each further connector a message reaches: %.1f µs of connector CPU, %.1f µs of Redis CPU\n", s.ReceiveUS, s.PubSubUS)
	fmt.Fprintf(w, "connector CPU per message: %.1f µs in rooms of 2, %.1f µs in rooms of %.0f: send %.1f µs + %.2f µs per delivery\n",
		s.PairUS, per(sum(one.SocketCPUCores), one.PublishedPerSecond)*1e6, s.Members, s.SendUS, s.DeliveryUS)
}

func cores(v []float64) string {
	var parts []string
	for _, c := range v {
		parts = append(parts, fmt.Sprintf("%.3f", c))
	}
	return strings.Join(parts, " ")
}
