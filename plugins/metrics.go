package plugins

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	calls    *prometheus.CounterVec   // op, result
	failures *prometheus.CounterVec   // op, reason
	duration *prometheus.HistogramVec // op
	restarts prometheus.Counter
	timeouts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_plugin_calls_total", Help: "Plugin calls by operation and result (ok or failed).",
		}, []string{"op", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_plugin_failures_total", Help: "Failed plugin calls by operation and reason; the caller fell back to the native policy.",
		}, []string{"op", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shoal_plugin_call_duration_seconds", Help: "Plugin call latency, including encoding, the sandbox round trip and validation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"op"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_plugin_sandbox_starts_total", Help: "Plugin sandbox processes started (first start and restarts).",
		}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_plugin_sandbox_kills_total", Help: "Plugin sandbox processes killed for overrunning a deadline.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.calls, m.failures, m.duration, m.restarts, m.timeouts} {
			_ = reg.Register(c)
		}
	}
	return m
}

// reason is the metric label for an error's sentinel.
func reason(err error) string {
	switch c := errorCode(err); errorCodes[c] {
	case ErrTimeout:
		return "timeout"
	case ErrTrap:
		return "trap"
	case ErrInvalidAnswer:
		return "invalid_answer"
	case ErrOutputTooLarge:
		return "output_too_large"
	case ErrPluginFailed:
		return "plugin_error"
	case ErrNotLoaded:
		return "not_loaded"
	case ErrClosed:
		return "closed"
	case ErrMissingExport:
		return "missing_export"
	}
	return "sandbox"
}
