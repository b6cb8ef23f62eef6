package manager

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/ca"
)

// newMetricsRegistry is this manager's Prometheus registry: the Go runtime,
// the process, and the components that register into it (plugin host).
func newMetricsRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// metricsHandler serves /metrics to managers and admins only (the same
// rule as the control API), on the node's TLS port and its admin socket.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := auth.FromContext(r.Context())
		if !ok {
			http.Error(w, "metrics need a manager or admin certificate", http.StatusUnauthorized)
			return
		}
		if id.Role != ca.RoleManager && id.Role != ca.RoleAdmin {
			http.Error(w, "metrics are for managers and admins", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
