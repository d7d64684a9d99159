// Package loadgen drives a Parley connector, or a Centrifugo server for
// comparison, with many real WebSocket clients: N clients in R rooms, P of
// them publishing at a fixed rate, and measures what a user would feel:
// send→receive latency, delivery ratio, connect time. Only the wire
// protocol differs between the two servers (wire.go, centrifugo.go): the
// schedule, the messages and the measurement are the same code. The
// parley-load command and the benchmarks use it.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/knative/procstat"
)

// Config describes one run. Zero fields get the defaults in comments.
type Config struct {
	URL        string        // server base URL, e.g. http://127.0.0.1:8080 (required)
	Clients    int           // WebSocket clients (1000)
	Rooms      int           // rooms; clients are spread evenly (10)
	Publishers int           // clients that send (10)
	Rate       float64       // messages per second per publisher (50)
	Duration   time.Duration // measured publishing time (10s)
	// Server is the protocol spoken at URL: ServerParley (default) or
	// ServerCentrifugo.
	Server string
	// TokenKey signs the clients' connection tokens (HS256) for Centrifugo,
	// which has no accounts to log in to; Parley's come from its auth API.
	TokenKey []byte
	// TextSize is the length of every message's text in characters (100):
	// the send time and the send's id, padded.
	TextSize int
	// Warmup is publishing before the measured time, whose sends,
	// deliveries and CPU are left out of the numbers: caches, connection
	// pools and scale-from-zero settle first (2s; negative for none).
	Warmup time.Duration
	Users  int    // distinct accounts behind the clients (Clients/10, at least Rooms)
	Prefix string // account name prefix, so runs can reuse accounts ("load")
	// Idle connects the clients, subscribes them and publishes nothing:
	// the memory-per-connection run.
	Idle bool
	// MetricsURL is the connector's /metrics, to read its memory; optional.
	MetricsURL string
	// StackPID is the process whose tree holds every server (connector,
	// functions, stores), to report their CPU. Zero: the tree of the one
	// parley-dev process, or, without exactly one, every process named
	// like a server of the stack.
	StackPID int
	// SocketProcess is the process name of the server holding the
	// sockets, whose share of the stack's CPU is ConnectorCPUCores
	// ("connector"; "centrifugo" for ServerCentrifugo).
	SocketProcess string
	// SocketURLs are the servers the clients' sockets are spread over
	// (see Spread), all behind the same Redis; empty: URL alone. Accounts
	// and rooms are made at URL.
	SocketURLs []string
	// ByRoom puts all of a room's members on one server (room mod the
	// servers), as a load balancer that routes by room would, instead of
	// dealing them round the servers.
	ByRoom bool
	// SocketPIDs are the processes of the socket servers, whose CPU each
	// is reported in Result.SocketCPUCores; optional.
	SocketPIDs []int

	dial func(ctx context.Context, network, addr string) (net.Conn, error) // tests: a slow network
}

// Result is what a run measured. Counts and rates cover the measured time
// only, not the warm-up.
type Result struct {
	Clients, Rooms, Publishers int
	Rate                       float64
	DurationSeconds            float64
	WarmupSeconds              float64
	Asked                      int64            // sends the publishers' schedules asked for
	Offered                    int64            // sends written (Asked minus those a publisher could not catch up on)
	Published                  int64            // sends the connector acked
	Rejected                   map[string]int64 // sends refused with an error frame, by code
	SendErrors                 int64            // sends that could not be written (socket errors)
	Unanswered                 int64            // written, but neither acked nor refused by the end
	// MaxLagMS is the longest any send left after its scheduled time: a
	// publisher that falls behind sends what is due at once, so a lag
	// means the generator or its machine could not keep the pace for a
	// while, and Offered < Asked that it never caught up.
	MaxLagMS           float64
	Delivered          int64 // message frames received by all clients
	Expected           int64 // published × members of its room
	OfferedPerSecond   float64
	PublishedPerSecond float64
	DeliveredPerSecond float64
	DeliveryRatio      float64
	LatencyMS          Percentiles // send → receive, over every delivery
	ConnectMS          Percentiles // dial → ready, per client
	LoadgenCPUCores    float64     // CPU this process used while measuring, in cores
	// MachineBusyCores is the CPU the whole machine used while measuring
	// (Linux; 0 elsewhere): with everything local, the cost of the load,
	// and of everything else the machine runs.
	MachineBusyCores float64
	// ProcessCPUCores is the CPU each server process used while measuring,
	// by process name (Linux, when found; see Config.StackPID), with
	// ConnectorCPUCores its connector share and StackCPUCores the sum.
	ProcessCPUCores          map[string]float64
	ConnectorCPUCores        float64 // the socket server's (Config.SocketProcess)
	StackCPUCores            float64
	StackFoundBy             string  // how the server processes were found
	ServerRSSBytes           float64 // connector resident memory after connecting (if MetricsURL)
	ServerRSSBeforeBytes     float64
	ServerBytesPerConnection float64
	// Where the connector's memory is, after connecting (if MetricsURL).
	ServerHeapInuseBytes  float64
	ServerStackInuseBytes float64
	// SocketCPUCores is the CPU of each process of Config.SocketPIDs, in
	// its order (0 for one not found), and Sockets how many clients each
	// of Config.SocketURLs held.
	SocketCPUCores []float64 `json:",omitempty"`
	Sockets        []int     `json:",omitempty"`
}

// Percentiles of a distribution, in milliseconds.
type Percentiles struct {
	P50, P90, P99, Max float64
}

func (c *Config) defaults() error {
	if c.URL == "" {
		return errors.New("loadgen: URL is required")
	}
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.Clients, 1000)
	set(&c.Rooms, 10)
	set(&c.Publishers, 10)
	set(&c.Users, max(c.Clients/10, c.Rooms))
	if c.Users > c.Clients {
		c.Users = c.Clients
	}
	if c.Rate == 0 {
		c.Rate = 50
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = 2 * time.Second
	case c.Warmup < 0:
		c.Warmup = 0
	}
	if c.Prefix == "" {
		c.Prefix = "load"
	}
	set(&c.TextSize, 100)
	if len(c.SocketURLs) == 0 {
		c.SocketURLs = []string{c.URL}
	}
	switch c.Server {
	case "", ServerParley:
		c.Server = ServerParley
		if c.SocketProcess == "" {
			c.SocketProcess = connectorName
		}
	case ServerCentrifugo:
		if len(c.TokenKey) == 0 {
			return errors.New("loadgen: Centrifugo needs the key that signs its connection tokens")
		}
		if c.SocketProcess == "" {
			c.SocketProcess = "centrifugo"
		}
	default:
		return fmt.Errorf("loadgen: unknown server %q (want %s or %s)", c.Server, ServerParley, ServerCentrifugo)
	}
	if c.Publishers > c.Clients {
		return errors.New("loadgen: more publishers than clients")
	}
	return nil
}

type client struct {
	conn      *websocket.Conn
	wire      wire
	room      string
	mu        sync.Mutex
	latencies []time.Duration
	received  atomic.Int64
	tally     *tally // the run's answers to sends
}

// Send frames carry their measured-or-not in their id and text: a warm-up
// send's id starts with warmupMark, and the text starts with the send time
// and the id, so whoever receives it can tell.
const warmupMark = 'w'

// tally counts the answers to measured sends.
type tally struct {
	acked, answered atomic.Int64
	expected        atomic.Int64
	members         map[string]int64 // clients per room, to count expected deliveries
	mu              sync.Mutex
	rejected        map[string]int64
}

func (t *tally) answer(a answer, room string) {
	if a.warmup {
		return
	}
	t.answered.Add(1)
	if a.code == "" {
		t.acked.Add(1)
		t.expected.Add(t.members[room])
		return
	}
	t.mu.Lock()
	t.rejected[a.code]++
	t.mu.Unlock()
}

// Run performs one load run.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	res := Result{Clients: cfg.Clients, Rooms: cfg.Rooms, Publishers: cfg.Publishers, Rate: cfg.Rate}
	w := wires[cfg.Server]
	tokens, rooms, err := w.setup(ctx, cfg)
	if err != nil {
		return res, err
	}
	res.ServerRSSBeforeBytes = metric(cfg.MetricsURL, "process_resident_memory_bytes")

	clients := make([]*client, cfg.Clients)
	connectTimes := make([]time.Duration, cfg.Clients)
	t := &tally{members: map[string]int64{}, rejected: map[string]int64{}}
	res.Sockets = make([]int, len(cfg.SocketURLs))
	for i := range cfg.Clients {
		t.members[rooms[i%cfg.Rooms]]++
		res.Sockets[cfg.server(i)]++
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var connectErr atomic.Value
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			begin := time.Now()
			url := cfg.SocketURLs[cfg.server(i)]
			conn, err := w.join(ctx, cfg, url, tokens[i%cfg.Users], rooms[i%cfg.Rooms])
			if err != nil {
				connectErr.Store(err)
				return
			}
			c := &client{conn: conn, wire: w, room: rooms[i%cfg.Rooms], tally: t}
			// Reading from the start answers the server's pings, which an
			// idle client, or one waiting for the others to connect, owes
			// too: Centrifugo drops a client that misses one.
			go c.read()
			connectTimes[i] = time.Since(begin)
			clients[i] = c
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.conn.Close()
			}
		}
	}()
	if err, _ := connectErr.Load().(error); err != nil {
		return res, fmt.Errorf("loadgen: connect: %w", err)
	}
	res.ConnectMS = percentiles(connectTimes)
	if cfg.Idle {
		time.Sleep(2 * time.Second) // let the server settle
		res.ServerRSSBytes = metric(cfg.MetricsURL, "process_resident_memory_bytes")
		res.ServerHeapInuseBytes = metric(cfg.MetricsURL, "go_memstats_heap_inuse_bytes")
		res.ServerStackInuseBytes = metric(cfg.MetricsURL, "go_memstats_stack_inuse_bytes")
		if res.ServerRSSBytes > 0 {
			res.ServerBytesPerConnection = (res.ServerRSSBytes - res.ServerRSSBeforeBytes) / float64(cfg.Clients)
		}
		return res, nil
	}
	begin := time.Now()
	measureFrom := begin.Add(cfg.Warmup)

	// Publish: each publisher sends at Rate, waiting for no ack (acks are
	// counted as they come), like a busy person would.
	pubs := make([]publisher, cfg.Publishers)
	pubCtx, stop := context.WithDeadline(ctx, measureFrom.Add(cfg.Duration))
	defer stop()
	var pwg sync.WaitGroup
	for p := range pubs {
		c := clients[p]
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		// Publishers are independent people: their sends are spread over
		// the interval instead of all landing in the same instant.
		pubs[p] = publisher{c: c, name: strconv.Itoa(p), textSize: cfg.TextSize, begin: begin, warmup: cfg.Warmup, end: cfg.Warmup + cfg.Duration,
			offset: interval * time.Duration(p) / time.Duration(cfg.Publishers), interval: interval,
			runID: strconv.FormatInt(begin.UnixNano(), 36)}
		pwg.Add(1)
		go func() { defer pwg.Done(); pubs[p].run(pubCtx) }()
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(measureFrom)):
	}
	cpuStart, machineStart := cpuTime(), procstat.ReadMachine()
	stackStart, foundBy := stackProcs(cfg.StackPID)
	socketsStart := pidsCPU(cfg.SocketPIDs)
	pwg.Wait()
	for _, p := range pubs {
		res.Asked += p.asked
		res.Offered += p.offered
		res.SendErrors += p.failed
		res.MaxLagMS = max(res.MaxLagMS, float64(p.maxLag.Microseconds())/1000)
	}
	// Drain: wait until every send is answered and delivered, or nothing
	// has moved for a second, for 30 s at most.
	var last int64 = -1
	for still, polls := 0, 0; still < 5 && polls < 150; polls++ {
		var total int64
		for _, c := range clients {
			total += c.received.Load()
		}
		written := res.Offered - res.SendErrors
		if total >= t.expected.Load() && t.answered.Load() >= written {
			break
		}
		if progress := total + t.answered.Load(); progress == last {
			still++
		} else {
			still, last = 0, progress
		}
		time.Sleep(200 * time.Millisecond)
	}
	measured := time.Since(measureFrom).Seconds()
	res.LoadgenCPUCores = (cpuTime() - cpuStart).Seconds() / measured
	res.MachineBusyCores = procstat.ReadMachine().BusySince(machineStart)
	res.StackFoundBy = foundBy
	if len(cfg.SocketPIDs) > 0 {
		for i, used := range pidsCPU(cfg.SocketPIDs) {
			res.SocketCPUCores = append(res.SocketCPUCores, (used-socketsStart[i]).Seconds()/measured)
		}
	}
	if stackStart != nil {
		stackEnd, _ := stackProcs(cfg.StackPID)
		res.ProcessCPUCores = map[string]float64{}
		for name, used := range stackEnd.Since(stackStart) {
			cores := used.Seconds() / measured
			res.ProcessCPUCores[name] = cores
			res.StackCPUCores += cores
		}
		res.ConnectorCPUCores = res.ProcessCPUCores[cfg.SocketProcess]
	}
	var all []time.Duration
	for _, c := range clients {
		res.Delivered += c.received.Load()
		c.mu.Lock()
		all = append(all, c.latencies...)
		c.mu.Unlock()
	}
	res.DurationSeconds, res.WarmupSeconds = cfg.Duration.Seconds(), cfg.Warmup.Seconds()
	res.Published, res.Expected = t.acked.Load(), t.expected.Load()
	t.mu.Lock()
	res.Rejected = maps.Clone(t.rejected)
	t.mu.Unlock()
	var refused int64
	for _, n := range res.Rejected {
		refused += n
	}
	res.Unanswered = res.Offered - res.SendErrors - res.Published - refused
	res.OfferedPerSecond = float64(res.Offered) / res.DurationSeconds
	res.PublishedPerSecond = float64(res.Published) / res.DurationSeconds
	res.DeliveredPerSecond = float64(res.Delivered) / res.DurationSeconds
	if res.Expected > 0 {
		res.DeliveryRatio = float64(res.Delivered) / float64(res.Expected)
	}
	res.LatencyMS = percentiles(all)
	res.ServerRSSBytes = metric(cfg.MetricsURL, "process_resident_memory_bytes")
	return res, nil
}

// publisher sends on a fixed schedule: send k is due at offset + k×interval
// after begin. Behind schedule (a stalled write, a busy machine), it sends
// what is due at once instead of skipping, so the load offered is the load
// asked for unless it never catches up, which it reports.
type publisher struct {
	c                             *client
	name, runID                   string
	textSize                      int
	begin                         time.Time
	warmup, end, offset, interval time.Duration
	asked, offered, failed        int64 // measured sends only
	maxLag                        time.Duration
}

func (p *publisher) run(ctx context.Context) {
	scheduled := func(k int) time.Duration { return p.offset + time.Duration(k)*p.interval }
	k := 0
	for ; scheduled(k) < p.end; k++ {
		due := scheduled(k)
		measured := due >= p.warmup
		if measured {
			p.asked++
		}
		if wait := time.Until(p.begin.Add(due)); wait > 0 {
			select {
			case <-ctx.Done():
				continue // count what was asked for and not sent
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			continue
		}
		if !measured {
			p.send(k, true, nil)
			continue
		}
		p.offered++
		p.maxLag = max(p.maxLag, time.Since(p.begin.Add(due)))
		p.send(k, false, &p.failed)
	}
}

// send writes send k. Its text starts with the send time and an id that
// marks warm-up sends, so receivers can tell; the rest pads it to textSize.
func (p *publisher) send(k int, warmup bool, failed *int64) {
	id := p.name + "-" + strconv.Itoa(k)
	if warmup {
		id = string(warmupMark) + id
	}
	text := strconv.FormatInt(time.Now().UnixNano(), 10) + " " + id + " load message "
	if pad := p.textSize - len(text); pad > 0 {
		text += strings.Repeat("x", pad)
	}
	frame := p.c.wire.sendFrame(p.c.room, k, warmup, id+"-"+p.runID, text)
	p.c.mu.Lock()
	err := p.c.conn.WriteMessage(websocket.TextMessage, frame)
	p.c.mu.Unlock()
	if err != nil && failed != nil {
		*failed++
	}
}

// read counts deliveries of measured sends and their latency from the
// timestamp the publisher put first in the text, hands the answers to this
// client's own sends (acked or refused) to the tally, and answers pings.
// It shares the machine with the server, so it reuses one buffer and takes
// the lock once per WebSocket message (servers coalesce many frames into
// one, a line each).
func (c *client) read() {
	marker := []byte(`"text":"`)
	var buf bytes.Buffer
	var batch []time.Duration
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		now := time.Now().UnixNano()
		batch = batch[:0]
		for line := range bytes.SplitSeq(buf.Bytes(), []byte("\n")) {
			if !c.wire.delivery(line) {
				a := c.wire.answer(line)
				if a.send {
					c.tally.answer(a, c.room)
				}
				if a.pong != nil {
					c.mu.Lock()
					err := c.conn.WriteMessage(websocket.TextMessage, a.pong)
					c.mu.Unlock()
					if err != nil {
						return
					}
				}
				continue
			}
			i := bytes.Index(line, marker)
			if i < 0 {
				continue
			}
			rest := line[i+len(marker):]
			sp := bytes.IndexByte(rest, ' ')
			if sp < 0 || sp+1 >= len(rest) || rest[sp+1] == warmupMark {
				continue
			}
			sent, err := strconv.ParseInt(string(rest[:sp]), 10, 64)
			if err != nil {
				continue
			}
			batch = append(batch, time.Duration(now-sent))
		}
		if len(batch) == 0 {
			continue
		}
		c.received.Add(int64(len(batch)))
		c.mu.Lock()
		c.latencies = append(c.latencies, batch...)
		c.mu.Unlock()
	}
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	at := func(p float64) float64 { return ms(s[min(len(s)-1, int(p*float64(len(s))))]) }
	return Percentiles{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: ms(s[len(s)-1])}
}

// Spread is the server (an index into Config.SocketURLs, of n) of client
// i. Client i is in room i mod rooms, as its k = i div rooms member; that
// member goes to server (room + k) mod n, so the members of every room
// are dealt round the servers (a room's envelope reaches each of them
// through Redis), the servers hold equal shares, and the publishers, the
// first member of rooms 0, 1, 2 …, are spread too.
func Spread(i, rooms, n int) int {
	if n <= 1 {
		return 0
	}
	return (i%rooms + i/rooms) % n
}

// server is the index into SocketURLs of client i's socket.
func (c Config) server(i int) int {
	if c.ByRoom {
		return i % c.Rooms % len(c.SocketURLs)
	}
	return Spread(i, c.Rooms, len(c.SocketURLs))
}

// pidsCPU is the CPU each process has used so far (0 for one not found).
func pidsCPU(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		if p, err := procstat.Read(pid); err == nil {
			out[i] = p.CPU
		}
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// metric reads one unlabelled sample from a Prometheus endpoint.
func metric(metricsURL, name string) float64 {
	if metricsURL == "" {
		return 0
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	for _, line := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
