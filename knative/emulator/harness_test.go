package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/cekafka"
	"github.com/parley-chat/parley/kafka/devbroker"
	"github.com/parley-chat/parley/kafka/kgoauth"
)

var testfnBin, queueBin string

// TestMain builds the test function and Knative's queue-proxy once: every
// emulator test runs them as real processes, exactly as a Parley function
// runs. queue-proxy is built as `make build` builds it, in serving's own
// module at the version go.mod pins.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "emulator-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testfnBin = filepath.Join(dir, "testfn")
	queueBin = filepath.Join(dir, "queue")
	version, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "knative.dev/serving").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "find the pinned knative.dev/serving:", err)
		os.Exit(1)
	}
	for _, build := range []*exec.Cmd{
		exec.Command("go", "build", "-o", testfnBin, "./internal/testfn"),
		exec.Command("go", "install", "knative.dev/serving/cmd/queue@"+strings.TrimSpace(string(version))),
	} {
		build.Env = append(os.Environ(), "GOBIN="+dir)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", build.Args, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	// Every test stops its emulator: none may leave a pod's namespace behind.
	if left, _ := filepath.Glob(filepath.Join(netnsDir, fmt.Sprintf("%s%d-*", podNetPrefix, os.Getpid()))); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "pod network namespaces left behind:", left)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// record mirrors testfn's Record.
type record struct {
	Tag, ID, Type, Key, Data string
	PID                      int
}

// sink collects what testfn reports on / and dead-lettered events on /dls.
type sink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	recs []record
	dls  []event.Event
}

func newSink(t testing.TB) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dls" {
			e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.mu.Lock()
			s.dls = append(s.dls, *e)
			s.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var rec record
		if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.recs = append(s.recs, rec)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) records() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record(nil), s.recs...)
}

func (s *sink) deadLetters() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.dls...)
}

func (s *sink) count(match func(record) bool) int {
	n := 0
	for _, r := range s.records() {
		if match(r) {
			n++
		}
	}
	return n
}

const testTopic = "events"

// The harness's Kafka logins, with passwords of this run only. The
// emulator's data plane gets the rights Knative's KafkaUser has on the
// cluster (kafka/users.yaml) for the harness's topics, so a client it adds
// or a group it renames fails here as it would there. The tests' own client
// produces like the connector and inspects what the emulator did.
var (
	dataPlaneLogin = kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: "knative", Password: rand.Text()}
	testLogin      = kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: "test", Password: rand.Text()}
	harnessUsers   = []kafka.User{
		{Name: dataPlaneLogin.Username, Password: dataPlaneLogin.Password, ACLs: []kafka.ACL{
			{Type: "topic", Name: testTopic, Operations: []string{"Read", "Write", "Describe", "DescribeConfigs"}},
			{Type: "topic", Name: "dead-letter", Operations: []string{"Write", "Describe", "DescribeConfigs"}},
			{Type: "group", Name: "knative-trigger-", Prefix: true, Operations: []string{"Read", "Describe", "Delete"}},
			{Type: "cluster", Operations: []string{"Describe"}},
		}},
		{Name: testLogin.Username, Password: testLogin.Password, ACLs: []kafka.ACL{
			{Type: "topic", Name: "*", Operations: []string{"Read", "Write", "Describe"}},
			{Type: "group", Name: "knative-trigger-", Prefix: true, Operations: []string{"Describe"}},
		}},
	}
)

// testClient is a Kafka client logged in as the tests.
func testClient(addrs []string, opts ...kgo.Opt) (*kgo.Client, error) {
	auth, err := kgoauth.Opts(testLogin)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(append(auth, kgo.SeedBrokers(addrs...)), opts...)...)
}

type harness struct {
	em     *Emulator
	kafka  *devbroker.Broker
	sink   *sink
	reg    *prometheus.Registry
	logs   *syncBuffer
	stop   context.CancelFunc
	done   chan error
	client *kgo.Client
}

// startEmulator runs the emulator on manifests (with {{SINK}} replaced by the
// sink's URL) over a fresh in-memory Kafka broker.
func startEmulator(t testing.TB, manifests string, tweak func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	kb, err := devbroker.Start(ctx, devbroker.Config{Topics: []kafka.Topic{
		{Name: testTopic, Partitions: 4}, {Name: "dead-letter", Partitions: 1},
	}, Users: harnessUsers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kb.Close)
	h := &harness{kafka: kb, sink: newSink(t), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	var logOut io.Writer = testWriter{t}
	if _, isBench := t.(*testing.B); isBench {
		logOut = io.Discard // benchmarks print numbers, not per-start logs
	}
	manifests = strings.ReplaceAll(manifests, "{{SINK}}", h.sink.srv.URL)
	cfg := Config{
		Manifests:     []byte(manifests),
		ResolveImage:  func(string) (string, error) { return testfnBin, nil },
		QueueProxy:    queueBin,
		KafkaBrokers:  []string{kb.Addr()},
		KafkaAuth:     dataPlaneLogin,
		Env:           map[string]string{"CRASH_DIR": t.TempDir()},
		IdleTimeout:   time.Minute,
		StopTimeout:   2 * time.Second,
		Logger:        slog.New(slog.NewJSONHandler(io.MultiWriter(h.logs, logOut), nil)),
		Registry:      h.reg,
		ProcessOutput: io.Discard,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h.em, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	h.stop, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.em.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(15 * time.Second):
			t.Error("emulator did not stop within 15s")
		}
	})
	h.client, err = testClient([]string{kb.Addr()}, kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.client.Close)
	return h
}

func newEvent(id, typ, key, data string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("emulator-test")
	e.SetType(typ)
	if key != "" {
		e.SetExtension(cekafka.PartitionKey, key)
	}
	e.SetData("text/plain", []byte(data))
	return e
}

// produce appends events to the broker topic directly, as the connector does.
func (h *harness) produce(t testing.TB, events ...event.Event) {
	t.Helper()
	if err := h.produceErr(events...); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) produceErr(events ...event.Event) error {
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for _, e := range events {
		key, headers, value, err := cekafka.Encode(e)
		if err != nil {
			return err
		}
		rec := &kgo.Record{Topic: testTopic, Key: key, Value: value}
		for _, hd := range headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: hd.Key, Value: hd.Value})
		}
		wg.Add(1)
		h.client.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// postIngress sends e to the Broker ingress and returns the status.
func (h *harness) postIngress(t testing.TB, e event.Event) int {
	t.Helper()
	return h.postIngressAs(t, "", e)
}

// postIngressAs posts e with token as its bearer credential (none when empty).
func (h *harness) postIngressAs(t testing.TB, token string, e event.Event) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.em.IngressURL("test", "default"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// firstDeadLetter waits for the first record on the dead-letter topic.
func (h *harness) firstDeadLetter(t testing.TB) *kgo.Record {
	t.Helper()
	cl, err := kgoConsumer(h, "dead-letter")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fetches := cl.PollRecords(ctx, 1)
	if err := fetches.Err(); err != nil {
		t.Fatal(err)
	}
	return fetches.Records()[0]
}

// committed sums the offsets a Trigger's consumer group has committed.
func (h *harness) committed(t testing.TB, trigger string) int64 {
	t.Helper()
	offsets, err := kadm.NewClient(h.client).FetchOffsets(context.Background(), "knative-trigger-test-"+trigger)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	offsets.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n
}

// delivered counts the events a Trigger has had answered with success: a
// subscriber reporting to the sink has not yet answered.
func (h *harness) delivered(trigger string) int {
	return int(testutil.ToFloat64(h.em.metrics.deliveries.WithLabelValues("test/"+trigger, "ok")))
}

func (h *harness) coldStarts(service string) int {
	return int(testutil.ToFloat64(h.em.metrics.coldStarts.WithLabelValues(service)))
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Manifest builders for the tests.

const brokerYAML = `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: test
  annotations:
    eventing.knative.dev/broker.class: Kafka
    kafka.eventing.knative.dev/external.topic: events
---
apiVersion: eventing.knative.dev/v1alpha1
kind: KafkaSink
metadata: {name: dead-letter, namespace: test}
spec: {topic: dead-letter, bootstrapServers: [unused]}
`

func serviceYAML(name string, minScale int, env ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: %s, namespace: test}
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/min-scale: "%d"}
    spec:
      timeoutSeconds: 30
      containers:
        - image: ko://example.com/testfn
          readinessProbe: {httpGet: {path: /readyz}}
          env:
            - {name: TAG, value: %s}
            - {name: SINK_URL, value: "{{SINK}}"}
            - {name: CRASH_DIR, valueFrom: {secretKeyRef: {name: s, key: k}}}
`, name, minScale, name)
	for i := 0; i+1 < len(env); i += 2 {
		fmt.Fprintf(&b, "            - {name: %s, value: %q}\n", env[i], env[i+1])
	}
	return b.String()
}

func triggerYAML(name, ceType, subscriber, extra string) string {
	return fmt.Sprintf(`
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: %s
  namespace: test
  annotations: {kafka.eventing.knative.dev/delivery.order: ordered}
spec:
  broker: default
  filter: {attributes: {type: %s}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: %s}}
%s`, name, ceType, subscriber, extra)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
