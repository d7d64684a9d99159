// Package loadgen drives a Parley connector with many real WebSocket
// clients: N clients in R rooms, P of them publishing at a fixed rate, and
// measures what a user would feel: send→receive latency, delivery ratio,
// connect time. The parley-load command and the benchmarks use it.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Config describes one run. Zero fields get the defaults in comments.
type Config struct {
	URL        string        // connector base URL, e.g. http://127.0.0.1:8080 (required)
	Clients    int           // WebSocket clients (1000)
	Rooms      int           // rooms; clients are spread evenly (10)
	Publishers int           // clients that send (10)
	Rate       float64       // messages per second per publisher (50)
	Duration   time.Duration // publishing time (10s)
	Users      int           // distinct accounts behind the clients (Clients/10, at least Rooms)
	Prefix     string        // account name prefix, so runs can reuse accounts ("load")
	// Idle connects the clients, subscribes them and publishes nothing:
	// the memory-per-connection run.
	Idle bool
	// MetricsURL is the connector's /metrics, to read its memory; optional.
	MetricsURL string
}

// Result is what a run measured.
type Result struct {
	Clients, Rooms, Publishers int
	Rate                       float64
	DurationSeconds            float64
	Published                  int64 // acked sends
	Delivered                  int64 // message frames received by all clients
	Expected                   int64 // published × members of its room
	PublishedPerSecond         float64
	DeliveredPerSecond         float64
	DeliveryRatio              float64
	LatencyMS                  Percentiles // send → receive, over every delivery
	ConnectMS                  Percentiles // dial → ready, per client
	SendErrors                 int64
	LoadgenCPUCores            float64 // CPU this process used while publishing, in cores
	// MachineBusyCores is the CPU the whole machine used while publishing
	// (Linux; 0 elsewhere): with everything local, the cost of the load.
	MachineBusyCores         float64
	ServerRSSBytes           float64 // connector resident memory after connecting (if MetricsURL)
	ServerRSSBeforeBytes     float64
	ServerBytesPerConnection float64
	// Where the connector's memory is, after connecting (if MetricsURL).
	ServerHeapInuseBytes  float64
	ServerStackInuseBytes float64
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
	if c.Prefix == "" {
		c.Prefix = "load"
	}
	if c.Publishers > c.Clients {
		return errors.New("loadgen: more publishers than clients")
	}
	return nil
}

type client struct {
	conn      *websocket.Conn
	room      string
	mu        sync.Mutex
	latencies []time.Duration
	received  atomic.Int64
}

// Run performs one load run.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	res := Result{Clients: cfg.Clients, Rooms: cfg.Rooms, Publishers: cfg.Publishers, Rate: cfg.Rate}
	tokens, rooms, err := setup(ctx, cfg)
	if err != nil {
		return res, err
	}
	res.ServerRSSBeforeBytes = metric(cfg.MetricsURL, "process_resident_memory_bytes")

	clients := make([]*client, cfg.Clients)
	connectTimes := make([]time.Duration, cfg.Clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var connectErr atomic.Value
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			begin := time.Now()
			c, err := connect(ctx, cfg.URL, tokens[i%cfg.Users], rooms[i%cfg.Rooms])
			if err != nil {
				connectErr.Store(err)
				return
			}
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
	for _, c := range clients {
		go c.read()
	}

	// Publish: each publisher sends at Rate, waiting for no ack (acks are
	// counted as they come), like a busy person would.
	members := make(map[string]int64)
	for i := range clients {
		members[clients[i].room]++
	}
	var published, sendErrors atomic.Int64
	var expected atomic.Int64
	pubCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	begin := time.Now()
	cpuStart, machineStart := cpuTime(), machineBusy()
	var pwg sync.WaitGroup
	for p := range cfg.Publishers {
		c := clients[p]
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			interval := time.Duration(float64(time.Second) / cfg.Rate)
			// Publishers are independent people: their sends are spread over
			// the interval instead of all landing in the same instant.
			select {
			case <-pubCtx.Done():
				return
			case <-time.After(interval * time.Duration(p) / time.Duration(cfg.Publishers)):
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			n := 0
			for {
				select {
				case <-pubCtx.Done():
					return
				case <-tick.C:
				}
				n++
				id := strconv.Itoa(p) + "-" + strconv.Itoa(n)
				text := strconv.FormatInt(time.Now().UnixNano(), 10) + " load message " + id
				frame, _ := json.Marshal(map[string]string{"type": "send", "id": id, "room_id": c.room, "client_msg_id": id + "-" + strconv.FormatInt(begin.UnixNano(), 36), "text": text})
				c.mu.Lock()
				err := c.conn.WriteMessage(websocket.TextMessage, frame)
				c.mu.Unlock()
				if err != nil {
					sendErrors.Add(1)
					continue
				}
				published.Add(1)
				expected.Add(members[c.room])
			}
		}()
	}
	pwg.Wait()
	elapsed := time.Since(begin)
	// Drain: wait until deliveries stop growing.
	var last int64 = -1
	for range 50 {
		var total int64
		for _, c := range clients {
			total += c.received.Load()
		}
		if total == last || total >= expected.Load() {
			break
		}
		last = total
		time.Sleep(200 * time.Millisecond)
	}
	res.LoadgenCPUCores = (cpuTime() - cpuStart).Seconds() / time.Since(begin).Seconds()
	res.MachineBusyCores = (machineBusy() - machineStart).Seconds() / time.Since(begin).Seconds()
	var all []time.Duration
	for _, c := range clients {
		res.Delivered += c.received.Load()
		c.mu.Lock()
		all = append(all, c.latencies...)
		c.mu.Unlock()
	}
	res.DurationSeconds = elapsed.Seconds()
	res.Published, res.Expected, res.SendErrors = published.Load(), expected.Load(), sendErrors.Load()
	res.PublishedPerSecond = float64(res.Published) / elapsed.Seconds()
	res.DeliveredPerSecond = float64(res.Delivered) / elapsed.Seconds()
	if res.Expected > 0 {
		res.DeliveryRatio = float64(res.Delivered) / float64(res.Expected)
	}
	res.LatencyMS = percentiles(all)
	res.ServerRSSBytes = metric(cfg.MetricsURL, "process_resident_memory_bytes")
	return res, nil
}

func connect(ctx context.Context, url, token, room string) (*client, error) {
	// A read buffer the size of a typical coalesced write (up to 128
	// frames) keeps a busy client to one read call per message.
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 20 * time.Second, ReadBufferSize: 16 << 10}
	conn, _, err := d.DialContext(ctx, strings.Replace(url, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, room: room}
	conn.WriteJSON(map[string]any{"type": "auth", "token": token})
	conn.WriteJSON(map[string]any{"type": "subscribe", "id": "s", "rooms": []map[string]any{{"room_id": room, "last_seq": 0}}})
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for got := false; !got; {
		_, data, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			return nil, err
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var f struct{ Type, Code, Message string }
			json.Unmarshal(line, &f)
			switch f.Type {
			case "subscribed":
				got = true
			case "error":
				conn.Close()
				return nil, fmt.Errorf("%s: %s", f.Code, f.Message)
			}
		}
	}
	conn.SetReadDeadline(time.Time{})
	return c, nil
}

// read counts message frames and their latency from the timestamp the
// publisher put first in the text. It shares the machine with the server,
// so it reuses one buffer and takes the lock once per WebSocket message
// (the server coalesces many frames into one).
func (c *client) read() {
	marker := []byte(`"text":"`)
	prefix := []byte(`{"type":"message"`)
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
			if !bytes.HasPrefix(line, prefix) {
				continue
			}
			i := bytes.Index(line, marker)
			if i < 0 {
				continue
			}
			rest := line[i+len(marker):]
			sp := bytes.IndexByte(rest, ' ')
			if sp < 0 {
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

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time all processors spent not idle since boot,
// from /proc/stat; 0 where there is none.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line)) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:8] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, _ := strconv.ParseInt(f, 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux ABI Go supports.
const clockTicks = 100

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
