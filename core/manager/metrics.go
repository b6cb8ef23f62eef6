package manager

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-project/shoal/core/allocator"
	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/ca"
	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/store"
)

// NewMetricsRegistry is a registry with the Go runtime and the process: a
// manager's own, or a worker's (core/node).
func NewMetricsRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// MetricsHandler serves what g gathers to managers and admins only (the
// same rule as the control API): on a manager's TLS port and admin socket,
// and on a worker's metrics socket.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
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

// gatherer is what /metrics serves: this manager's registry and the node's
// (the agent's metrics), when the node has one.
func (m *Manager) gatherer() prometheus.Gatherer {
	if m.cfg.NodeMetrics == nil {
		return m.metrics
	}
	return prometheus.Gatherers{m.metrics, m.cfg.NodeMetrics}
}

// durationBuckets span 1 ms to about 30 s.
var durationBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 12)

// resultLabel is "ok" or "failed".
func resultLabel(err error) string {
	if err != nil {
		return "failed"
	}
	return "ok"
}

// passMetrics count a leader component's passes by result and time them.
type passMetrics struct {
	passes  *prometheus.CounterVec
	seconds prometheus.Histogram
}

// newPassMetrics are shoal_<component>_<passes>_total and
// shoal_<component>_<pass>_duration_seconds.
func newPassMetrics(component, pass, passes, what string) passMetrics {
	return passMetrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_" + component + "_" + passes + "_total", Help: what + " by result (ok or failed).",
		}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shoal_" + component + "_" + pass + "_duration_seconds", Help: "How long " + what + " took.", Buckets: durationBuckets,
		}),
	}
}

func (p passMetrics) observe(took time.Duration, err error) {
	p.passes.WithLabelValues(resultLabel(err)).Inc()
	p.seconds.Observe(took.Seconds())
}

// componentMetrics are the counters the manager's parts report to. They
// live as long as the manager, across leadership terms.
type componentMetrics struct {
	proposals        *prometheus.CounterVec
	proposalSeconds  prometheus.Histogram
	snapshotBytes    prometheus.Gauge
	snapshotSeconds  prometheus.Histogram
	scheduler        passMetrics
	placements       prometheus.Counter
	unplaceable      prometheus.Gauge
	allocator        passMetrics
	allocations      prometheus.Counter
	unallocated      prometheus.Gauge
	orchestrator     passMetrics
	missedHeartbeats *prometheus.CounterVec
	downsHeld        prometheus.Counter
	tickLateness     prometheus.Histogram
}

func newComponentMetrics() *componentMetrics {
	return &componentMetrics{
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_raft_proposals_total", Help: "Store writes proposed to Raft by this manager, by result (ok: committed and applied).",
		}, []string{"result"}),
		proposalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shoal_raft_proposal_duration_seconds", Help: "From proposing a store write to its being applied here.", Buckets: durationBuckets,
		}),
		snapshotBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shoal_raft_snapshot_size_bytes", Help: "Size of the store in the last Raft snapshot this manager took.",
		}),
		snapshotSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shoal_raft_snapshot_duration_seconds", Help: "How long serialising the store for a Raft snapshot took.", Buckets: durationBuckets,
		}),
		scheduler: newPassMetrics("scheduler", "pass", "passes", "scheduling passes"),
		placements: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_scheduler_placements_total", Help: "Tasks the scheduler assigned to a node.",
		}),
		unplaceable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shoal_scheduler_unplaceable_tasks", Help: "Tasks the last scheduling pass could not place (left pending).",
		}),
		allocator: newPassMetrics("allocator", "pass", "passes", "allocation passes"),
		allocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_allocator_allocations_total", Help: "Tasks the allocator gave their resources (moved to pending).",
		}),
		unallocated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shoal_allocator_unallocated_tasks", Help: "Tasks the last allocation pass could not allocate (left new).",
		}),
		orchestrator: newPassMetrics("orchestrator", "reconcile", "reconciles", "orchestrator reconcile passes"),
		missedHeartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_dispatcher_missed_heartbeats_total",
			Help: "Nodes marked down by this manager's dispatcher, by reason (expired: heartbeats stopped; not_reconnected: no session after a leader change).",
		}, []string{"reason"}),
		downsHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_dispatcher_downs_held_total",
			Help: "Expired nodes a dispatcher scan left READY: many nodes failed at once (the disruption guard marks them DOWN one per heartbeat period) or more than a large cluster's DOWN rate (a hundredth of its nodes per period); each node counted when it is first held.",
		}),
		tickLateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shoal_raft_tick_lateness_seconds", Buckets: durationBuckets,
			Help: "How much later than its interval each Raft tick came (this process could not run); a tick late by over half an interval does not count toward Raft's timeouts (at most 3 in a row).",
		}),
	}
}

func (c *componentMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		c.proposals, c.proposalSeconds, c.snapshotBytes, c.snapshotSeconds,
		c.scheduler.passes, c.scheduler.seconds, c.placements, c.unplaceable,
		c.allocator.passes, c.allocator.seconds, c.allocations, c.unallocated,
		c.orchestrator.passes, c.orchestrator.seconds, c.missedHeartbeats,
		c.downsHeld, c.tickLateness,
	}
}

func (c *componentMetrics) observeProposal(took time.Duration, err error) {
	c.proposals.WithLabelValues(resultLabel(err)).Inc()
	c.proposalSeconds.Observe(took.Seconds())
}

func (c *componentMetrics) observeSchedulerPass(st scheduler.PassStats, took time.Duration, err error) {
	c.scheduler.observe(took, err)
	c.placements.Add(float64(st.Assigned))
	c.unplaceable.Set(float64(st.Unschedulable))
}

func (c *componentMetrics) observeAllocatorPass(st allocator.PassStats, took time.Duration, err error) {
	c.allocator.observe(took, err)
	c.allocations.Add(float64(st.Allocated))
	c.unallocated.Set(float64(st.Failed))
}

func (c *componentMetrics) observeTickLateness(late time.Duration) {
	c.tickLateness.Observe(late.Seconds())
}

func (c *componentMetrics) nodeDown(neverReconnected bool) {
	reason := "expired"
	if neverReconnected {
		reason = "not_reconnected"
	}
	c.missedHeartbeats.WithLabelValues(reason).Inc()
}

func (c *componentMetrics) nodeDownsHeld(n int) { c.downsHeld.Add(float64(n)) }

// initMetrics builds this manager's registry: the runtime, its parts'
// counters and the cluster's state read at each scrape.
func (m *Manager) initMetrics() {
	m.metrics = NewMetricsRegistry()
	m.parts = newComponentMetrics()
	m.metrics.MustRegister(m.parts.collectors()...)
	m.metrics.MustRegister(stateCollector{m})
}

// timedSnapshots is the store as Raft's state machine, timing and sizing
// the snapshots Raft takes of it.
type timedSnapshots struct {
	*store.Store
	parts *componentMetrics
}

// Snapshot marshals the store now (the same bytes as store.Snapshot),
// timed and sized as CaptureSnapshot's are.
func (t timedSnapshots) Snapshot() ([]byte, error) { return t.CaptureSnapshot()() }

// CaptureSnapshot is the store's (raft.SnapshotCapturer), timing and sizing
// the marshalling as Snapshot does.
func (t timedSnapshots) CaptureSnapshot() func() ([]byte, error) {
	marshal := t.Store.CaptureSnapshot()
	return func() ([]byte, error) {
		start := time.Now()
		data, err := marshal()
		if err == nil {
			t.parts.snapshotSeconds.Observe(time.Since(start).Seconds())
			t.parts.snapshotBytes.Set(float64(len(data)))
		}
		return data, err
	}
}
