package main

import "github.com/prometheus/client_golang/prometheus"

// metrics let operators watch the model's behaviour drift: the score
// distribution per label and how often each label crosses its threshold.
type metrics struct {
	scores *prometheus.HistogramVec
	flags  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		scores: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_moderation_score",
			Help:    "Classifier score of every message, by label.",
			Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99},
		}, []string{"label"}),
		flags: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_moderation_flags_total",
			Help: "Messages hidden because a label crossed its threshold, by label.",
		}, []string{"label"}),
	}
	reg.MustRegister(m.scores, m.flags)
	return m
}
