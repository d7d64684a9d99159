package emulator

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	coldStarts       *prometheus.CounterVec
	coldStartSeconds *prometheus.HistogramVec
	startFailures    *prometheus.CounterVec
	crashes          *prometheus.CounterVec
	scaleDowns       *prometheus.CounterVec
	deliveries       *prometheus.CounterVec
	polls            *prometheus.CounterVec
	deliverySeconds  *prometheus.HistogramVec
	deadLettered     *prometheus.CounterVec
	ingress          *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	svc := []string{"service"}
	m := &metrics{
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_cold_starts_total", Help: "Processes started from zero.",
		}, svc),
		coldStartSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "emulator_cold_start_duration_seconds", Help: "From launch to a passing readiness probe.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, svc),
		startFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_start_failures_total", Help: "Starts that exited or timed out before ready.",
		}, svc),
		crashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_crashes_total", Help: "Ready processes that exited on their own.",
		}, svc),
		scaleDowns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_scale_to_zero_total", Help: "Processes stopped after the idle window or at shutdown.",
		}, svc),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_trigger_deliveries_total", Help: "Delivery attempts per Trigger by outcome.",
		}, []string{"trigger", "outcome"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_trigger_polls_total", Help: "Polls of a Trigger's consumer that returned events (each a fetch from Kafka).",
		}, []string{"trigger"}),
		deliverySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "emulator_trigger_delivery_duration_seconds", Help: "Time of one delivery attempt to a subscriber.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"trigger"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_dead_lettered_total", Help: "Events sent to a dead-letter sink (or dropped when none).",
		}, []string{"trigger", "result"}),
		ingress: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emulator_broker_ingress_events_total", Help: "Events received by the Broker ingress by HTTP status.",
		}, []string{"broker", "status"}),
	}
	reg.MustRegister(m.coldStarts, m.coldStartSeconds, m.startFailures, m.crashes, m.scaleDowns,
		m.deliveries, m.polls, m.deliverySeconds, m.deadLettered, m.ingress)
	return m
}
