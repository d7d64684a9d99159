package main

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/connector/loadgen"
	"github.com/parley-chat/parley/knative/manifests"
)

// The search brackets the highest sustained rate by doubling, then narrows
// it by halving; a server that sustains nothing gets rates below the start.
func TestSearchRates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sustained float64
		halvings  int
		want      []float64
	}{
		{"between doublings", 300, 2, []float64{50, 100, 200, 400, 300, 350}},
		{"none", 10, 2, []float64{50, 25, 12}},
		{"no halvings", 120, 0, []float64{50, 100, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tried []float64
			err := searchRates(50, tc.halvings, func(rate float64) (bool, error) {
				tried = append(tried, rate)
				return rate <= tc.sustained, nil
			})
			if err != nil || !slices.Equal(tried, tc.want) {
				t.Fatalf("tried %v (%v), want %v", tried, err, tc.want)
			}
		})
	}
}

// Without Triggers the platform keeps every other object of the base.
func TestWithoutTriggers(t *testing.T) {
	rendered, err := manifests.Render(manifests.Dir("base"))
	if err != nil {
		t.Fatal(err)
	}
	count := func(stream []byte) map[string]int {
		objs, err := manifests.Split(stream)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.Kind]++
		}
		return kinds
	}
	before := count(rendered)
	out, err := withoutTriggers(rendered)
	if err != nil {
		t.Fatal(err)
	}
	after := count(out)
	if before["Trigger"] == 0 || after["Trigger"] != 0 {
		t.Fatalf("Triggers: %d before, %d after", before["Trigger"], after["Trigger"])
	}
	delete(before, "Trigger")
	for kind, n := range before {
		if after[kind] != n {
			t.Errorf("%s: %d before, %d after", kind, n, after[kind])
		}
	}
}

// A step passes only under the bound with every send accepted and
// delivered, but for a thousandth.
func TestFailure(t *testing.T) {
	ok := loadgen.Result{Asked: 6000, Offered: 5999, Published: 5999, DeliveryRatio: 1, LatencyMS: loadgen.Percentiles{P99: 99}}
	if why := failure(ok); why != "" {
		t.Fatalf("a pass failed: %s", why)
	}
	for name, change := range map[string]func(*loadgen.Result){
		"slow":        func(r *loadgen.Result) { r.LatencyMS.P99 = 100 },
		"rejected":    func(r *loadgen.Result) { r.Rejected = map[string]int64{"rate_limited": 1} },
		"not sent":    func(r *loadgen.Result) { r.Offered = 5990 },
		"not acked":   func(r *loadgen.Result) { r.Published = 5990 },
		"undelivered": func(r *loadgen.Result) { r.DeliveryRatio = 0.998 },
	} {
		r := ok
		change(&r)
		if failure(r) == "" {
			t.Errorf("%s: passed", name)
		}
	}
}

// The scale scenario's numbers, worked by hand: 1,000 sockets in 10 rooms
// of 100, 500 messages/s, 50,000 deliveries/s in every run but Pair.
func TestScaleSummary(t *testing.T) {
	run := func(pubs, delivered float64, redis float64, connectors ...float64) loadgen.Result {
		return loadgen.Result{Clients: 1000, Rooms: 10, Publishers: 10, Rate: 50, PublishedPerSecond: pubs, DeliveredPerSecond: delivered,
			SocketCPUCores: connectors, ProcessCPUCores: map[string]float64{"redis-server": redis}}
	}
	one := run(500, 50_000, 0.05, 0.5)
	spread := run(500, 50_000, 0.06, 0.2, 0.2, 0.2)
	placed := run(500, 50_000, 0.05, 0.2, 0.1, 0.1) // neither one's cores nor spread's, so a mix-up shows
	pair := run(500, 1000, 0.05, 0.1)
	pair.Rooms = 500
	s := summarize(one, spread, placed, pair, 3)
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("Members", s.Members, 100)
	near("Further", s.Further, 2)
	near("OnePerCoreSecond", s.OnePerCoreSecond, 100_000)
	near("SpreadPerCoreSecond", s.SpreadPerCoreSecond, 50_000/0.6)
	near("Ratio", s.Ratio, 0.5/0.6)
	near("PlacedPerCoreSecond", s.PlacedPerCoreSecond, 125_000)
	near("PlacedRatio", s.PlacedRatio, 1.25)
	near("ReceiveUS", s.ReceiveUS, 0.1/(500*2)*1e6)   // 0.1 cores more for 500 × 2 envelopes/s
	near("PubSubUS", s.PubSubUS, 0.01/(500*2)*1e6)    // 0.01 cores more of Redis
	near("RedisUS", s.RedisUS, 100)                   // 0.05 / 500
	near("PairUS", s.PairUS, 200)                     // 0.1 / 500
	near("DeliveryUS", s.DeliveryUS, (1000-200)/98.0) // (s + 100d) − (s + 2d) = 98d
	near("SendUS", s.SendUS, 200-2*(1000-200)/98.0)

	// A run that delivered more is not charged for it: twice the
	// deliveries at twice the CPU on three connectors cost the same per
	// delivery, so nothing is left for the envelopes.
	spread = run(1000, 100_000, 0.10, 0.4, 0.3, 0.3)
	if s := summarize(one, spread, placed, pair, 3); math.Abs(s.ReceiveUS) > 1e-9 || math.Abs(s.PubSubUS) > 1e-9 || math.Abs(s.Ratio-1) > 1e-9 {
		t.Errorf("scaled: receive %v µs, pub/sub %v µs, ratio %v; want 0, 0, 1", s.ReceiveUS, s.PubSubUS, s.Ratio)
	}

	// Rooms smaller than the connectors reach only as many as members.
	small := one
	small.Rooms = 500 // rooms of 2
	if s := summarize(small, small, small, pair, 3); s.Further != 1 {
		t.Errorf("rooms of 2 on 3 connectors: %v further connectors, want 1", s.Further)
	}
}

// The table says whether goal 5 is met.
func TestPrintScale(t *testing.T) {
	run := func(connectors ...float64) *loadRun {
		return &loadRun{Load1: 1.5, Result: loadgen.Result{Clients: 200, Rooms: 10, Publishers: 10, Rate: 50, PublishedPerSecond: 500,
			DeliveredPerSecond: 10_000, DeliveryRatio: 1, SocketCPUCores: connectors, Sockets: make([]int, len(connectors))}}
	}
	for _, tc := range []struct {
		spread        []float64
		want, perCore string
	}{
		{[]float64{0.04, 0.04, 0.03}, "= 0.91 (at least 0.85: met); rooms placed: 1.00 (met)", "90909"},
		{[]float64{0.04, 0.04, 0.04}, "= 0.83 (at least 0.85: NOT met); rooms placed: 1.00 (met)", "83333"},
	} {
		r := &scaleResult{Connectors: 3, One: run(0.1), Spread: run(tc.spread...), Placed: run(0.04, 0.03, 0.03), Pair: run(0.02)}
		r.Summary = summarize(r.One.Result, r.Spread.Result, r.Placed.Result, r.Pair.Result, 3)
		var b strings.Builder
		printScale(&b, r)
		if !strings.Contains(b.String(), tc.want) || !strings.Contains(b.String(), tc.perCore) {
			t.Errorf("spread %v:\n%s\nwant %q", tc.spread, b.String(), tc.want)
		}
	}
}

// sample reads an unlabelled sample, not one whose name merely starts the
// same, and 0 when the name is absent.
func TestSample(t *testing.T) {
	body := "# HELP parley_connector_frames_out_total Frames sent to clients.\n" +
		"# TYPE parley_connector_frames_out_total counter\n" +
		"parley_connector_frames_out_total_created 1.7e9\n" +
		"parley_connector_frames_out_total 123456\n" +
		"parley_connector_socket_writes_total 2.5e+04\n"
	for name, want := range map[string]float64{
		"parley_connector_frames_out_total":    123456,
		"parley_connector_socket_writes_total": 25000,
		"parley_connector_sockets":             0,
	} {
		if got := sample(body, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// Every Service of knative/base is built: a missing binary would leave its
// Triggers failing and retried in the every-Trigger runs.
func TestEveryServiceIsBuilt(t *testing.T) {
	rendered, err := manifests.Render(manifests.Dir("base"))
	if err != nil {
		t.Fatal(err)
	}
	images := regexp.MustCompile(`image: ko://github\.com/parley-chat/parley/(\S+)`).FindAllSubmatch(rendered, -1)
	if len(images) < 6 {
		t.Fatalf("found %d ko:// images in knative/base, want every Service's", len(images))
	}
	for _, m := range images {
		if pkg := "./" + string(m[1]); !slices.Contains(buildPackages, pkg) {
			t.Errorf("knative/base runs %s, which parley-peers does not build", pkg)
		}
	}
}

// Parley runs on one Redis unless PEERS_REDIS_CLUSTER asks for a cluster
// of at least three masters.
func TestRedisClusterSetting(t *testing.T) {
	t.Setenv("PEERS_CENTRIFUGO", "centrifugo")
	for v, want := range map[string]int{"": 0, "0": 0, "3": 3, "5": 5, "2": -1, "x": -1} {
		t.Setenv("PEERS_REDIS_CLUSTER", v)
		s, err := readSettings()
		if want < 0 {
			if err == nil {
				t.Errorf("PEERS_REDIS_CLUSTER=%q accepted", v)
			}
		} else if err != nil || s.redisCluster != want {
			t.Errorf("PEERS_REDIS_CLUSTER=%q: %d, %v; want %d", v, s.redisCluster, err, want)
		}
	}
}
