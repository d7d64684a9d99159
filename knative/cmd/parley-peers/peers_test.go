package main

import (
	"slices"
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
