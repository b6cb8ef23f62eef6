package node

import (
	"context"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/core/manager"
	"github.com/shoal-project/shoal/internal/endpoint"
)

// agentMetrics are this node's own metrics: its agent's task starts. They
// live as long as the node, across agent restarts and role changes; a
// manager serves them with its own.
type agentMetrics struct {
	reg     *prometheus.Registry
	starts  *prometheus.CounterVec
	seconds prometheus.Histogram
}

func newAgentMetrics() *agentMetrics {
	a := &agentMetrics{
		reg: prometheus.NewRegistry(),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_agent_task_starts_total", Help: "Tasks this node's agent started in its backend, by result (ok or failed).",
		}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shoal_agent_task_start_duration_seconds", Help: "How long the backend took to start a task (prepared to started).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
	}
	a.reg.MustRegister(a.starts, a.seconds)
	return a
}

func (a *agentMetrics) taskStarted(took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	a.starts.WithLabelValues(result).Inc()
	a.seconds.Observe(took.Seconds())
}

// serveMetrics serves this node's metrics (runtime, process, agent) on its
// metrics socket until ctx ends: how a worker, which serves no API, shows
// them, for root on its host only.
func (n *Node) serveMetrics(ctx context.Context) error {
	g := prometheus.Gatherers{manager.NewMetricsRegistry(), n.metrics.reg}
	srv, _, err := manager.ServeLocalSocket(filepath.Join(n.cfg.DataDir, endpoint.MetricsSocketName), manager.MetricsHandler(g), n.log)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	return nil
}
