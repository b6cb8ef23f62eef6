package rebalancer

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the rebalancer's counters. Create them once per process
// (leader terms come and go) and pass them to every New with WithMetrics.
type Metrics struct {
	passes   *prometheus.CounterVec // result: ok, failed
	moves    *prometheus.CounterVec // result: proposed, applied, rejected
	rejected *prometheus.CounterVec // reason
}

// NewMetrics creates the counters and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_rebalance_passes_total", Help: "Rebalancer plugin calls, by result (a failed call moves nothing).",
		}, []string{"result"}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_rebalance_moves_total", Help: "Task moves rebalancer plugins proposed, the host applied or rejected.",
		}, []string{"result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_rebalance_moves_rejected_total", Help: "Proposed moves the host ignored, by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.passes, m.moves, m.rejected)
	}
	return m
}
