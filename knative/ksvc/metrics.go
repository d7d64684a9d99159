package ksvc

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	requests      *prometheus.CounterVec
	requestTime   *prometheus.HistogramVec
	events        *prometheus.CounterVec
	eventDuration *prometheus.HistogramVec
	ready         prometheus.Gauge
	startup       prometheus.Gauge
}

// processStart approximates when the container started: package variables
// are initialised before main runs.
var processStart = time.Now()

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total",
			Help: "Requests served on $PORT by route kind (grpc, event, http).",
		}, []string{"kind"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_http_request_duration_seconds",
			Help:    "Time to serve a request on $PORT by route kind.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_events_handled_total",
			Help: "CloudEvents handled, by type and HTTP status answered.",
		}, []string{"type", "status"}),
		eventDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_event_handle_duration_seconds",
			Help:    "Time spent in the event handler, by CloudEvent type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"type"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_ready",
			Help: "1 while the service reports ready, 0 while starting or draining.",
		}),
		startup: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_startup_seconds",
			Help: "From process start to first ready: the cold-start cost this replica paid.",
		}),
	}
	reg.MustRegister(m.requests, m.requestTime, m.events, m.eventDuration, m.ready, m.startup,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeEvent starts timing one event and returns the function that records its outcome.
func (m *metrics) observeEvent(ceType string) func(status int) {
	start := time.Now()
	return func(status int) {
		m.eventDuration.WithLabelValues(ceType).Observe(time.Since(start).Seconds())
		m.events.WithLabelValues(ceType, strconv.Itoa(status)).Inc()
	}
}
