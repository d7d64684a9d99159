// Command parley-peers runs issue 16's comparison (make bench-peers): the
// same load generator (connector/loadgen, as parley-load, a process of its
// own) against Centrifugo with its Redis engine, Parley with every Trigger
// on, and Parley with no Triggers (the fan-out alone), and prints one table
// of ratios, Parley/Centrifugo. Scenarios (see knative/BENCHMARKS.md):
//
//	s1     1,000 sockets, 10 rooms × 100, 10 publishers × 50 msg/s, 100-character messages
//	max    the most deliveries/s with p99 < 100 ms in that shape (rate per publisher searched)
//	idle   memory per idle socket at 10,000 sockets
//	floor  goal 2: CPU per message of Kafka + InsertMany alone, beside the pipeline's in s1
//	scale  goal 5, only when asked: s1's shape without Triggers on 1 connector, then on
//	       PEERS_CONNECTORS behind the same Redis (each room's members dealt round them),
//	       then rooms of 2 on 1 connector; deliveries per connector-CPU-second, N ÷ 1
//
// Settings (environment, all optional but the first):
//
//	PEERS_CENTRIFUGO       the centrifugo binary (make bench-peers builds it)
//	PEERS_ONLY             scenarios to run, comma-separated       (s1,max,idle,floor)
//	PEERS_DURATION         s1's measured time                      (30s)
//	PEERS_WARMUP           publishing before each measured time    (5s)
//	PEERS_CLIENTS          sockets in s1 and max                   (1000)
//	PEERS_RATE             s1's messages/s per publisher           (50)
//	PEERS_SEARCH_DURATION  measured time of each step of max       (10s)
//	PEERS_SEARCH_STEPS     halvings after the doubling in max      (3)
//	PEERS_IDLE_CLIENTS     sockets in idle                         (10000)
//	PEERS_CONNECTORS       connectors in scale                     (3)
//	PEERS_CONNECTOR_GOMAXPROCS  GOMAXPROCS of the bench connectors  (the Go default: every CPU)
//	PEERS_REDIS_CLUSTER    Parley's Redis as a Redis Cluster of this many masters (0: one Redis)
//	PEERS_OUT              the results as JSON                     (.parley/peers/results.json)
//	PARLEY_MODEL_DIR       moderation's model (make: make run's); else the demo model is built
//	ONNXRUNTIME_LIB        libonnxruntime for moderation (make fetches it)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-chat/parley/connector/loadgen"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/emulator"
	"github.com/parley-chat/parley/knative/manifests"
)

func main() {
	emulator.TuneHostGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "parley-peers:", err)
		os.Exit(1)
	}
}

type settings struct {
	centrifugo, modelDir, out                 string
	only                                      map[string]bool
	duration, warmup, searchDuration          time.Duration
	clients, idleClients, searchSteps, textSz int
	connectors, redisCluster                  int
	rate                                      float64
}

func readSettings() (settings, error) {
	s := settings{centrifugo: os.Getenv("PEERS_CENTRIFUGO"), modelDir: os.Getenv("PARLEY_MODEL_DIR"),
		out: envOr("PEERS_OUT", filepath.Join(".parley", "peers", "results.json")), only: map[string]bool{}, textSz: 100}
	for _, part := range strings.Split(envOr("PEERS_ONLY", "s1,max,idle,floor"), ",") {
		switch part = strings.TrimSpace(part); part {
		case "s1", "max", "idle", "floor", "scale":
			s.only[part] = true
		default:
			return s, fmt.Errorf("PEERS_ONLY: unknown scenario %q (s1, max, idle, floor, scale)", part)
		}
	}
	if s.centrifugo == "" && (s.only["s1"] || s.only["max"] || s.only["idle"]) {
		return s, fmt.Errorf("PEERS_CENTRIFUGO: the centrifugo binary is required (make bench-peers builds it)")
	}
	var errs []string
	dur := func(key string, def time.Duration) time.Duration {
		d, err := time.ParseDuration(envOr(key, def.String()))
		if err != nil || d <= 0 {
			errs = append(errs, key+" is not a positive duration")
		}
		return d
	}
	num := func(key string, def int) int {
		n, err := strconv.Atoi(envOr(key, strconv.Itoa(def)))
		if err != nil || n <= 0 {
			errs = append(errs, key+" is not a positive number")
		}
		return n
	}
	s.duration, s.warmup, s.searchDuration = dur("PEERS_DURATION", 30*time.Second), dur("PEERS_WARMUP", 5*time.Second),
		dur("PEERS_SEARCH_DURATION", 10*time.Second)
	s.clients, s.idleClients, s.searchSteps = num("PEERS_CLIENTS", 1000), num("PEERS_IDLE_CLIENTS", 10000), num("PEERS_SEARCH_STEPS", 3)
	s.rate = float64(num("PEERS_RATE", 50))
	if v := os.Getenv("PEERS_REDIS_CLUSTER"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || (n != 0 && n < 3) {
			errs = append(errs, "PEERS_REDIS_CLUSTER must be 0 (one Redis) or at least 3 masters")
		} else {
			s.redisCluster = n
		}
	}
	if s.connectors = num("PEERS_CONNECTORS", 3); s.connectors < 2 {
		errs = append(errs, "PEERS_CONNECTORS must be at least 2")
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return s, nil
}

// The servers compared, in the table's order.
const (
	centrifugoRedis = "Centrifugo (Redis)"
	parleyTriggers  = "Parley, every Trigger"
	parleyFanout    = "Parley, no Triggers"
)

var servers = []string{centrifugoRedis, parleyTriggers, parleyFanout}

// results is everything measured, written as JSON for the record.
type results struct {
	Started     time.Time
	CPUs        int
	S1          map[string]*loadRun
	Max         map[string]*search
	Idle        map[string]*loadRun
	Floor       *floorResult `json:",omitempty"`
	Scale       *scaleResult `json:",omitempty"`
	PipelineMS  float64      `json:",omitempty"` // s1, every Trigger: (all servers − connector) CPU per acked message
	Settings    map[string]string
	Description string
}

// loadRun is one load run and the machine's load average when it began.
type loadRun struct {
	Load1  float64
	Result loadgen.Result
}

func run(ctx context.Context) error {
	s, err := readSettings()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "parley-peers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // PostgreSQL runs as its own user and must reach its data
	binDir := filepath.Join(dir, "bin")
	say("building Parley into %s", binDir)
	if err := build(binDir); err != nil {
		return err
	}
	if s.modelDir == "" {
		s.modelDir = filepath.Join(dir, "model")
		if out, err := exec.Command(filepath.Join(binDir, "demomodel"), "-out", s.modelDir).CombinedOutput(); err != nil {
			return fmt.Errorf("demo model: %w\n%s", err, out)
		}
	}
	res := &results{Started: time.Now().UTC(), CPUs: runtime.NumCPU(), S1: map[string]*loadRun{}, Max: map[string]*search{},
		Idle: map[string]*loadRun{}, Settings: map[string]string{}}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PEERS_") {
			k, v, _ := strings.Cut(kv, "=")
			res.Settings[k] = v
		}
	}
	l := &loader{bin: filepath.Join(binDir, "parley-load"), logDir: dir, s: s}

	if s.only["s1"] || s.only["max"] || s.only["idle"] {
		say("starting Centrifugo with its Redis engine")
		c, err := startCentrifugo(ctx, s.centrifugo, dir)
		if err != nil {
			return err
		}
		target := target{name: centrifugoRedis, url: c.url, metrics: c.metrics, server: loadgen.ServerCentrifugo,
			process: processName(s.centrifugo), tokenKey: c.tokenKey}
		err = l.scenarios(ctx, res, target, true)
		c.stop()
		if err != nil {
			return err
		}
	}

	say("starting Parley's stores and Kafka")
	ferret := filepath.Join(binDir, "ferretdb")
	// No file store: the load sends text only.
	stack, err := devstack.Up(ctx, devstack.Config{StateDir: filepath.Join(dir, "parley"), FerretDBBinary: ferret,
		Components: devstack.Postgres | devstack.Redis | devstack.Mongo | devstack.Kafka, PostgresPort: -1, RedisPort: -1, MongoPort: -1, KafkaPort: -1,
		RedisClusterNodes: s.redisCluster, Getenv: func(string) string { return "" }, Logger: quiet})
	if err != nil {
		return err
	}
	defer stack.Close()
	if s.only["floor"] {
		say("floor: %d messages/s to Kafka and InsertMany into FerretDB for %s", int(s.rate*10), s.duration)
		f, err := runFloor(ctx, stack, dir, s.rate*10, s.duration, s.textSz)
		if err != nil {
			return err
		}
		res.Floor = &f
		say("floor: %.3f ms CPU per message (%d messages)", f.CPUMSPerMessage, f.Messages)
	}
	for _, triggers := range []bool{true, false} {
		name := map[bool]string{true: parleyTriggers, false: parleyFanout}[triggers]
		if !s.only["s1"] && !s.only["max"] && (triggers || !s.only["idle"]) {
			continue
		}
		say("starting %s", name)
		p, err := startParley(ctx, stack, binDir, s.modelDir, triggers)
		if err != nil {
			return err
		}
		t := target{name: name, url: p.url, metrics: p.metrics, server: loadgen.ServerParley, process: "connector"}
		// Idle memory is the connector's alone: measured once, without Triggers.
		err = l.scenarios(ctx, res, t, !triggers)
		p.stop()
		if err != nil {
			return err
		}
	}
	if s.only["scale"] {
		say("starting %s with %d bench connectors", parleyFanout, s.connectors)
		p, err := startParley(ctx, stack, binDir, s.modelDir, false)
		if err != nil {
			return err
		}
		for len(p.urls) < s.connectors && err == nil {
			_, err = p.addConnector(ctx)
		}
		if err == nil {
			res.Scale, err = l.scale(ctx, p)
		}
		p.stop()
		if err != nil {
			return err
		}
	}
	if r := res.S1[parleyTriggers]; r != nil && r.Result.PublishedPerSecond > 0 && r.Result.ProcessCPUCores != nil {
		res.PipelineMS = (r.Result.StackCPUCores - r.Result.ConnectorCPUCores) / r.Result.PublishedPerSecond * 1000
	}
	res.Description = describe(s)
	printTable(os.Stdout, res)
	if res.Scale != nil {
		printScale(os.Stdout, res.Scale)
	}
	if err := os.MkdirAll(filepath.Dir(s.out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(s.out, b, 0o644); err != nil {
		return err
	}
	say("results: %s", s.out)
	return nil
}

func describe(s settings) string {
	redis := "one Redis"
	if s.redisCluster > 0 {
		redis = fmt.Sprintf("a Redis Cluster of %d masters", s.redisCluster)
	}
	return fmt.Sprintf("s1: %d sockets, 10 rooms, 10 publishers × %.0f msg/s, %d-character messages, %s measured after %s; "+
		"max: the same shape, %s per step; idle: %d sockets; Parley on %s", s.clients, s.rate, s.textSz, s.duration, s.warmup,
		s.searchDuration, s.idleClients, redis)
}

// buildPackages are what build compiles.
var buildPackages = []string{"./functions/auth", "./functions/persist", "./functions/moderation", "./functions/notification",
	"./functions/search", "./functions/thumbnail", "./connector", "./functions/moderation/cmd/demomodel", "./connector/cmd/parley-load"}

// build compiles the services (every Service of knative/base: one missing
// would fail its Triggers' deliveries, which the Broker then retries), the
// demo model's generator and the load generator, and FerretDB's wrapper in
// its own module.
func build(binDir string) error {
	root := filepath.Join(manifests.Dir(""), "..")
	cmd := exec.Command("go", append([]string{"build", "-o", binDir + "/"}, buildPackages...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build: %w\n%s", err, out)
	}
	cmd = exec.Command("go", "build", "-o", filepath.Join(binDir, "ferretdb"), ".")
	cmd.Dir = filepath.Join(root, "knative", "devstack", "ferretdb")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build ferretdb: %w\n%s", err, out)
	}
	return nil
}

// processName is the name Linux gives the process of an executable (its
// comm): the file's name, cut to 15 bytes.
func processName(bin string) string {
	name := filepath.Base(bin)
	return name[:min(len(name), 15)]
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
