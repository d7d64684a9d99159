package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/connector/loadgen"
	"github.com/parley-chat/parley/knative/procstat"
)

// target is a server under load.
type target struct {
	name, url, metrics, server string
	process                    string // the socket server's process name
	tokenKey                   string // Centrifugo's
	// urls, when set, are the socket servers the clients are spread over
	// (url still takes the accounts and rooms), and pids the processes
	// whose CPU each is reported; byRoom puts each room's members on one
	// of them (loadgen.Config.ByRoom).
	urls   []string
	pids   []int
	byRoom bool
}

// loader runs parley-load, a process of its own, so that the CPU of the
// servers (every process under this one) leaves the generator's out.
type loader struct {
	bin, logDir string
	s           settings
	runs        int
}

// scenarios runs the selected scenarios against t; idle only when asked.
// A first, unrecorded run at s1's load primes the server: Parley's
// functions start from zero and load their model on the first events, and
// its accounts are registered, which a warm-up of seconds may not cover.
func (l *loader) scenarios(ctx context.Context, res *results, t target, idle bool) error {
	if l.s.only["s1"] || l.s.only["max"] {
		say("%s: priming", t.name)
		if _, err := l.load(ctx, t, loadgen.Config{Clients: l.s.clients, Rate: l.s.rate, Duration: l.s.warmup}); err != nil {
			return fmt.Errorf("%s priming: %w", t.name, err)
		}
	}
	if l.s.only["s1"] {
		r, err := l.load(ctx, t, loadgen.Config{Clients: l.s.clients, Rate: l.s.rate, Duration: l.s.duration})
		if err != nil {
			return fmt.Errorf("%s s1: %w", t.name, err)
		}
		res.S1[t.name] = r
	}
	if l.s.only["max"] {
		m, err := l.search(ctx, t)
		if err != nil {
			return fmt.Errorf("%s max: %w", t.name, err)
		}
		res.Max[t.name] = m
	}
	if l.s.only["idle"] && idle {
		r, err := l.load(ctx, t, loadgen.Config{Clients: l.s.idleClients, Rooms: 100, Users: 100, Idle: true})
		if err != nil {
			return fmt.Errorf("%s idle: %w", t.name, err)
		}
		res.Idle[t.name] = r
	}
	return nil
}

// load runs parley-load once with c's shape against t, after the servers
// have settled from the run before.
func (l *loader) load(ctx context.Context, t target, c loadgen.Config) (*loadRun, error) {
	l.settle(ctx)
	l.runs++
	out := filepath.Join(l.logDir, fmt.Sprintf("run%d.json", l.runs))
	args := []string{"-url", t.url, "-server", t.server, "-socket-process", t.process, "-clients", strconv.Itoa(c.Clients), "-json", out,
		"-text-size", strconv.Itoa(l.s.textSz), "-warmup", l.s.warmup.String(), "-prefix", "peers",
		"-stack-pid", strconv.Itoa(os.Getpid()), "-metrics", t.metrics}
	if len(t.urls) > 0 {
		args = append(args, "-socket-urls", strings.Join(t.urls, ","))
	}
	if t.byRoom {
		args = append(args, "-by-room")
	}
	if len(t.pids) > 0 {
		var pids []string
		for _, pid := range t.pids {
			pids = append(pids, strconv.Itoa(pid))
		}
		args = append(args, "-socket-pids", strings.Join(pids, ","))
	}
	if c.Idle {
		args = append(args, "-idle", "-rooms", strconv.Itoa(c.Rooms), "-users", strconv.Itoa(c.Users))
	} else {
		args = append(args, "-rooms", strconv.Itoa(cmp.Or(c.Rooms, 10)), "-publishers", "10", "-rate", fmt.Sprint(c.Rate),
			"-duration", c.Duration.String())
	}
	cmd := exec.CommandContext(ctx, l.bin, args...)
	cmd.Env = os.Environ()
	if t.tokenKey != "" {
		cmd.Env = append(cmd.Env, "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY="+t.tokenKey)
	}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	r := &loadRun{Load1: load1()}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("parley-load: %w\n%s", err, output.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &r.Result); err != nil {
		return nil, fmt.Errorf("parley-load result: %w", err)
	}
	g := r.Result
	if c.Idle {
		say("%s, %d idle sockets: %.1f KB per socket (load %.1f)", t.name, g.Clients, g.ServerBytesPerConnection/1024, r.Load1)
	} else {
		say("%s, %d sockets × %.0f msg/s: %.0f deliveries/s, ratio %.4f, p50 %.1f ms, p99 %.1f ms, rejected %v, unanswered %d; CPU: socket server %.2f, servers %.2f, machine %.2f cores (load %.1f)",
			t.name, g.Clients, g.Rate, g.DeliveredPerSecond, g.DeliveryRatio, g.LatencyMS.P50, g.LatencyMS.P99, g.Rejected,
			g.Unanswered, g.ConnectorCPUCores, g.StackCPUCores, g.MachineBusyCores, r.Load1)
		if len(g.SocketCPUCores) > 0 {
			say("%s: each connector's CPU %.3f cores, sockets %v", t.name, g.SocketCPUCores, g.Sockets)
		}
	}
	return r, nil
}

// search is the most deliveries/s at a p99 under the bound in the
// 10-publisher shape, and every step that found it.
type search struct {
	Best  *loadRun `json:",omitempty"` // nil when no rate passed
	Steps []*loadRun
}

// p99Bound is goal 3's latency bound.
const p99Bound = 100.0 // ms

// failure says why a step is not at a rate the server sustains, "" when it
// is: the bound met, no send refused, and the sends asked for written,
// acked and delivered but for a thousandth (the last of a schedule can miss
// the end by a hair on a busy machine).
func failure(r loadgen.Result) string {
	switch {
	case r.LatencyMS.P99 >= p99Bound:
		return fmt.Sprintf("p99 %.1f ms", r.LatencyMS.P99)
	case len(r.Rejected) > 0:
		return fmt.Sprintf("rejected %v", r.Rejected)
	case float64(r.Offered) < 0.999*float64(r.Asked):
		return fmt.Sprintf("the generator wrote %d of %d sends", r.Offered, r.Asked)
	case float64(r.Published) < 0.999*float64(r.Offered):
		return fmt.Sprintf("%d of %d sends acked", r.Published, r.Offered)
	case r.DeliveryRatio < 0.999:
		return fmt.Sprintf("delivery ratio %.4f", r.DeliveryRatio)
	}
	return ""
}

// search finds the best step of searchRates at t.
func (l *loader) search(ctx context.Context, t target) (*search, error) {
	m := &search{}
	err := searchRates(l.s.rate, l.s.searchSteps, func(rate float64) (bool, error) {
		r, err := l.load(ctx, t, loadgen.Config{Clients: l.s.clients, Rate: rate, Duration: l.s.searchDuration})
		if err != nil {
			return false, err
		}
		m.Steps = append(m.Steps, r)
		why := failure(r.Result)
		if why != "" {
			say("%s: %.0f msg/s per publisher is too much: %s", t.name, rate, why)
		}
		ok := why == ""
		if ok && (m.Best == nil || r.Result.DeliveredPerSecond > m.Best.Result.DeliveredPerSecond) {
			m.Best = r
		}
		return ok, nil
	})
	return m, err
}

// searchRates tries rates per publisher, doubling from start until one
// fails, then halves the interval between the last pass and that failure
// the given number of times (to whole messages/s).
func searchRates(start float64, halvings int, try func(rate float64) (bool, error)) error {
	lo, hi := 0.0, 0.0
	for rate := start; hi == 0 && rate <= 10000; rate *= 2 { // 10,000/s each: beyond any server here
		ok, err := try(rate)
		if err != nil {
			return err
		}
		if ok {
			lo = rate
		} else {
			hi = rate
		}
	}
	for range halvings {
		mid := float64(int((lo + hi) / 2))
		if hi == 0 || mid <= lo {
			break
		}
		ok, err := try(mid)
		if err != nil {
			return err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return nil
}

// settle waits until the servers (every process under this one) use less
// than a tenth of a core, for two minutes at most: a run that left a
// backlog (Triggers behind after an overload) would otherwise weigh on the
// next one. The machine's other users are not waited for.
func (l *loader) settle(ctx context.Context) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		before, err := procstat.All()
		if err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		after, err := procstat.All()
		if err != nil {
			return
		}
		var used time.Duration
		for _, d := range after.Tree(os.Getpid()).Since(before.Tree(os.Getpid())) {
			used += d
		}
		if used < 100*time.Millisecond {
			return
		}
	}
	say("the servers still use CPU after 2 minutes (a backlog?): measuring anyway")
}

// load1 is the machine's load average over the last minute.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}
