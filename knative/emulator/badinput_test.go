package emulator

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFunctionThatExitsAtStartGetsAClearErrorAndOthersKeepServing(t *testing.T) {
	h := startEmulator(t, serviceYAML("broken", 0, "EXIT_AT_START", "1")+serviceYAML("good", 0), nil)
	url, _ := h.em.URL("test", "broken")
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "EXIT_AT_START is set") {
		t.Errorf("broken service: %d %q; want 503 quoting the process's last output", resp.StatusCode, body)
	}
	if !strings.Contains(h.logs.String(), `"msg":"service failed to start","ksvc":"broken"`) {
		t.Error("start failure not logged")
	}
	good, _ := h.em.URL("test", "good")
	resp, err = http.Get(good + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthy service answered %d after another failed", resp.StatusCode)
	}
}

func TestPortAlreadyTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = New(Config{
		Manifests:    []byte(serviceYAML("fn", 0)),
		ResolveImage: func(string) (string, error) { return testfnBin, nil },
		Env:          map[string]string{"CRASH_DIR": t.TempDir()},
		Ports:        map[string]int{"fn": port},
		Registry:     prometheus.NewRegistry(),
	})
	if err == nil {
		t.Fatal("New accepted a port that is already in use")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say the port is in use", err)
	}
}

func TestIngressRejectsEventsMissingRequiredAttributes(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.event", "fn", ""), nil)
	url := h.em.IngressURL("test", "default")
	cases := map[string]http.Header{
		"no id":        {"Ce-Specversion": {"1.0"}, "Ce-Type": {"test.event"}, "Ce-Source": {"x"}},
		"no type":      {"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"x"}},
		"no source":    {"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Type": {"test.event"}},
		"not an event": {"Content-Type": {"text/plain"}},
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("x"))
			req.Header = hdr
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not a valid CloudEvent") {
				t.Errorf("got %d %q, want 400 naming the problem", resp.StatusCode, body)
			}
		})
	}
	resp, err := http.Post(strings.Replace(url, "/default", "/nope", 1), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown broker: %d, want 404", resp.StatusCode)
	}
	// After the bad requests, a good event still flows.
	if status := h.postIngress(t, newEvent("ok", "test.event", "k", "")); status != http.StatusAccepted {
		t.Fatalf("good event after bad ones: %d", status)
	}
	eventually(t, 10*time.Second, "good event delivered", func() bool { return len(h.sink.records()) == 1 })
}

func TestInvalidRecordOnTopicIsSkippedNotFatal(t *testing.T) {
	h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.event", "fn", ""), nil)
	// A record that claims the type but lacks id and source.
	bad := &kgo.Record{Topic: testTopic, Key: []byte("k"), Headers: []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_type", Value: []byte("test.event")}}}
	if err := h.client.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.produce(t, newEvent("after", "test.event", "k", ""))
	eventually(t, 10*time.Second, "valid event after invalid one", func() bool { return len(h.sink.records()) == 1 })
	if !strings.Contains(h.logs.String(), "dropping record that is not a valid CloudEvent") {
		t.Error("invalid record was not logged")
	}
}

func TestUnusableManifestObjectsAreSkippedAndTheRestRuns(t *testing.T) {
	manifests := brokerYAML + serviceYAML("fn", 0) +
		triggerYAML("ghost", "test.event", "no-such-service", "") +
		triggerYAML("t", "test.event", "fn", "") + `
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: imageless, namespace: test}
spec: {template: {spec: {containers: [{name: x}]}}}
`
	h := startEmulator(t, manifests, nil)
	logs := h.logs.String()
	for _, want := range []string{"no-such-service does not exist", "container has no image"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not mention %q", want)
		}
	}
	h.produce(t, newEvent("e", "test.event", "k", ""))
	eventually(t, 10*time.Second, "delivery by the valid trigger", func() bool { return len(h.sink.records()) == 1 })
}

func TestMalformedManifestsAreAnError(t *testing.T) {
	for name, doc := range map[string]string{
		"not yaml":     "kind: [",
		"no kind":      "apiVersion: v1\nmetadata: {name: x}\n",
		"secret unset": serviceYAML("fn", 0),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Manifests: []byte(doc), Registry: prometheus.NewRegistry(),
				ResolveImage: func(string) (string, error) { return testfnBin, nil }})
			if err == nil {
				t.Fatal("New accepted it")
			}
			t.Log(err)
		})
	}
}

func TestParseISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT0.2S": 200 * time.Millisecond, "PT30S": 30 * time.Second, "PT1M": time.Minute,
		"P1DT2H": 26 * time.Hour, "PT1H30M": 90 * time.Minute,
	} {
		got, err := ParseISODuration(in)
		if err != nil || got != want {
			t.Errorf("ParseISODuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1s", "PT-1S", "soon"} {
		if _, err := ParseISODuration(bad); err == nil {
			t.Errorf("ParseISODuration(%q) accepted", bad)
		}
	}
}

func syscallSignal0(pid int) error { return syscall.Kill(pid, 0) }
func syscallKill(pid int)          { syscall.Kill(pid, syscall.SIGKILL) }

func testutilCount(c *prometheus.CounterVec, label string) float64 {
	return testutil.ToFloat64(c.WithLabelValues(label))
}

func kgoConsumer(h *harness, topic string) (*kgo.Client, error) {
	return testClient([]string{h.kafka.Addr()}, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
}
