package platform

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace receiver: every process of the platform
// exports its spans here (OTEL_EXPORTER_OTLP_ENDPOINT), as to Jaeger.
type collector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []span
}

type span struct {
	service, name, trace, id, parent string
	room                             string // parley.room_id, on the connector's frame spans
	start                            uint64 // Unix ns
}

func startCollector() *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.GetAttributes() {
				if a.Key == "service.name" {
					service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					sp := span{service: service, name: s.Name, trace: hex.EncodeToString(s.TraceId),
						id: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId), start: s.StartTimeUnixNano}
					for _, a := range s.Attributes {
						if a.Key == "parley.room_id" {
							sp.room = a.Value.GetStringValue()
						}
					}
					c.spans = append(c.spans, sp)
				}
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	return c
}

func (c *collector) trace(id string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if s.trace == id {
			out = append(out, s)
		}
	}
	return out
}

func (c *collector) find(service, prefix string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if s.service == service && strings.HasPrefix(s.name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func TestOneMessageIsOneTraceFromSocketToStorage(t *testing.T) {
	ada := newUser(t)
	room := newRoom(t, ada)
	a := dial(t, plat.url, ada)
	a.sendText(room, "trace me")
	// The message's trace, from its socket to its storage. Each process
	// exports its spans in batches (every 100 ms), so the trace fills in
	// over several polls: wait until it has every span wanted.
	want := []string{"connector:ws send", "connector:kafka append", "persist:event parley.message.sent", "persist:mongo insert"}
	lacks := func(names []string) []string {
		var missing []string
		for _, w := range want {
			if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, w) }) {
				missing = append(missing, w)
			}
		}
		return missing
	}
	var chain []span
	var names, missing []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, send := range traces.find("connector", "ws send") {
			if send.room == room {
				chain = traces.trace(send.trace)
			}
		}
		names = names[:0]
		for _, s := range chain {
			names = append(names, s.service+":"+s.name)
		}
		if missing = lacks(names); len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("trace: %v", names)
	if len(missing) > 0 {
		t.Fatalf("the message's trace lacks %v after 20 s: %v (spans seen: %d)", missing, names, len(traces.spans))
	}
	ids := map[string]span{}
	for _, s := range chain {
		ids[s.id] = s
	}
	for _, s := range chain {
		if _, ok := ids[s.parent]; s.parent != "" && !ok && s.name != "ws send" {
			t.Errorf("span %s:%s has a parent outside the trace", s.service, s.name)
		}
	}
}

func TestMetricsEndpointsExposeTheNamedSeries(t *testing.T) {
	port := freePort()
	r := startConnector(t, "METRICS_ADDR=127.0.0.1:"+itoa(port))
	ada := newUser(t)
	room := newRoom(t, ada)
	c := dial(t, r.url, ada)
	c.subscribe(room, 0)
	c.sendText(room, "count me")
	metricsURL := "http://127.0.0.1:" + itoa(port) + "/metrics"
	for _, series := range []string{"parley_connector_sockets", "parley_connector_frames_in_total", "parley_connector_frames_out_total",
		"parley_connector_send_ack_seconds_bucket", "parley_connector_kafka_append_seconds_bucket", "parley_connector_slow_consumers_total", "parley_connector_fanout_seconds_count",
		"parley_http_requests_total", "parley_ready", "go_goroutines"} {
		if !eventuallyExposes(t, metricsURL, series) {
			t.Errorf("connector metrics lack %s", series)
		}
	}
	// A function's metrics, through its activator (functions serve /metrics
	// on $PORT). Labelled series appear once persist has handled the event.
	persistURL, _ := plat.em.URL("parley", "persist")
	for _, series := range []string{"parley_events_handled_total", "parley_event_handle_duration_seconds_bucket", "parley_startup_seconds"} {
		if !eventuallyExposes(t, persistURL+"/metrics", series) {
			t.Errorf("persist metrics lack %s", series)
		}
	}
}

// eventuallyExposes polls a metrics endpoint for a series for up to 5 s.
func eventuallyExposes(t *testing.T, url, series string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if strings.Contains(get(t, url), series) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func itoa(n int) string { return strconv.Itoa(n) }
