package ws

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the connector's socket metrics.
type Metrics struct {
	sockets       prometheus.Gauge
	framesIn      prometheus.Counter
	framesOut     prometheus.Counter
	writes        prometheus.Counter
	slowConsumers prometheus.Counter
	sendErrors    prometheus.Counter
	sendLatency   prometheus.Histogram
	appendLatency prometheus.Histogram
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sockets:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_connector_sockets", Help: "Open WebSockets."}),
		framesIn:      prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_connector_frames_in_total", Help: "Frames received from clients."}),
		framesOut:     prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_connector_frames_out_total", Help: "Frames sent to clients."}),
		writes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_connector_socket_writes_total", Help: "WebSocket messages written (frames are coalesced)."}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_connector_slow_consumers_total", Help: "Sockets closed for not keeping up."}),
		sendErrors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_connector_send_errors_total", Help: "Sends refused because Kafka did not acknowledge."}),
		sendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_connector_send_ack_seconds",
			Help: "From a send frame to its ack (Kafka included).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_connector_kafka_append_seconds",
			Help: "From handing a message to the Kafka producer to its acknowledgement (acks=all).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	reg.MustRegister(m.sockets, m.framesIn, m.framesOut, m.writes, m.slowConsumers, m.sendErrors, m.sendLatency, m.appendLatency)
	return m
}
