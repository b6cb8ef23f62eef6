package pluginmgr

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ShadowQueue is how many live calls wait for a busy shadow; more are
// dropped (and counted).
const ShadowQueue = 4

// ShadowKeep is how many differing or failed passes a report keeps.
const ShadowKeep = 20

// shadowCall is one live policy call handed to the shadow worker.
type shadowCall struct {
	name, service, serviceID string
	active                   string
	req                      *sdk.ScheduleRequest
	resp                     *sdk.ScheduleResponse
	at                       time.Time
}

type shadowMetrics struct {
	passes, differing, moved, unplaced, failures, dropped *prometheus.CounterVec
	seconds                                               *prometheus.HistogramVec
}

func newShadowMetrics(r prometheus.Registerer) *shadowMetrics {
	c := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_plugin_shadow_" + name, Help: help}, []string{"plugin"})
	}
	m := &shadowMetrics{
		passes:    c("passes_total", "Live policy calls the shadow scheduler answered or failed."),
		differing: c("differing_passes_total", "Shadow answers that differ from the applied one."),
		moved:     c("moved_tasks_total", "Tasks the shadow would have placed on another node."),
		unplaced:  c("unplaced_tasks_total", "Tasks the shadow could not place that were placed."),
		failures:  c("failures_total", "Shadow calls that trapped, timed out or answered invalidly."),
		dropped:   c("dropped_total", "Live policy calls not shadowed because the shadow was busy."),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoal_plugin_shadow_call_seconds",
			Help: "Time of one shadow call.", Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12)}, []string{"plugin"}),
	}
	if r != nil {
		for _, col := range []prometheus.Collector{m.passes, m.differing, m.moved, m.unplaced, m.failures, m.dropped, m.seconds} {
			_ = r.Register(col) // a second manager in one process shares them
		}
	}
	return m
}

// ShadowTap is the scheduler's tap: when the cluster names a shadow
// scheduler, it hands a copy of each live call to the shadow worker, or
// counts a drop when the worker is busy. It never blocks.
func (m *Manager) ShadowTap() scheduler.ShadowTap {
	return func(active string, req *sdk.ScheduleRequest, resp *sdk.ScheduleResponse) {
		c := m.shadowTarget()
		if c.name == "" || (c.service != "" && !hasService(req, c.serviceID)) {
			return
		}
		if len(m.shadowIn) == cap(m.shadowIn) {
			m.shadowReport(c.name, c.service, func(r *shoalv1.ShadowReport) { r.Dropped++ })
			m.shadowMetrics.dropped.WithLabelValues(c.name).Inc()
			return
		}
		c.active, c.at = active, time.Now()
		c.req, c.resp = scheduler.CloneRequest(req), scheduler.CloneResponse(resp)
		select {
		case m.shadowIn <- c:
		default:
		}
	}
}

// shadowTarget reads the cluster's shadow setting.
func (m *Manager) shadowTarget() shadowCall {
	var c shadowCall
	_ = m.st.View(func(tx store.ReadTx) error {
		_ = tx.Range(store.KindCluster, store.All(), func(o store.Object) bool {
			sp := o.(*shoalv1.Cluster).GetSpec()
			c.name, c.service = sp.GetShadowScheduler(), sp.GetShadowService()
			return false
		})
		if c.name != "" && c.service != "" {
			_ = tx.Range(store.KindService, store.All(), func(o store.Object) bool {
				if o.(*shoalv1.Service).GetSpec().GetName() == c.service {
					c.serviceID = o.GetId()
					return false
				}
				return true
			})
		}
		return nil
	})
	return c
}

func hasService(req *sdk.ScheduleRequest, id string) bool {
	for _, g := range req.Groups {
		if g.ServiceID == id {
			return true
		}
	}
	return false
}

// runShadow answers handed-off calls with the shadow plugin in its own
// sandbox until ctx ends.
func (m *Manager) runShadow(ctx context.Context) {
	loaded := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-m.shadowIn:
			p := m.shadowPass(ctx, c, loaded)
			m.recordShadow(c, p)
		}
	}
}

// shadowPass runs the shadow on c's request (only the groups of c's
// service, if it has one) and compares its answer with the applied one.
func (m *Manager) shadowPass(ctx context.Context, c shadowCall, loaded map[string]bool) *shoalv1.ShadowPass {
	req, resp := c.req, c.resp
	if c.serviceID != "" {
		req, resp = onlyService(req, resp, c.serviceID)
	}
	p := &shoalv1.ShadowPass{At: timestamppb.New(c.at), Active: c.active}
	start := time.Now()
	got, err := m.callShadow(ctx, c.name, req, loaded)
	p.CallTime = durationpb.New(time.Since(start))
	if err == nil {
		err = filter.Validate(req, got)
	}
	if err != nil {
		p.Error = err.Error()
		return p
	}
	d := CompareAnswers(req, resp, got)
	p.Tasks, p.Moved, p.Unplaced = d.Tasks, d.Moved, d.Unplaced
	p.ActiveNodes, p.ShadowNodes = d.ActiveNodes, d.ShadowNodes
	return p
}

func (m *Manager) callShadow(ctx context.Context, name string, req *sdk.ScheduleRequest, loaded map[string]bool) (*sdk.ScheduleResponse, error) {
	sha, wasm, err := m.module(name, plugins.KindScheduler)
	if err != nil {
		return nil, err
	}
	if !loaded[sha] {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := m.shadowHost.Load(lctx, sha, wasm)
		cancel()
		if err != nil {
			return nil, err
		}
		loaded[sha] = true
	}
	resp, err := m.shadowHost.Schedule(ctx, sha, req)
	if err == nil && resp == nil {
		err = fmt.Errorf("no answer")
	}
	return resp, err
}

func onlyService(req *sdk.ScheduleRequest, resp *sdk.ScheduleResponse, id string) (*sdk.ScheduleRequest, *sdk.ScheduleResponse) {
	r := &sdk.ScheduleRequest{Nodes: req.Nodes}
	a := &sdk.ScheduleResponse{}
	for i, g := range req.Groups {
		if g.ServiceID == id && i < len(resp.Groups) {
			r.Groups = append(r.Groups, g)
			a.Groups = append(a.Groups, resp.Groups[i])
		}
	}
	return r, a
}

// Difference is how a shadow answer differs from the applied one.
type Difference struct {
	Tasks, Moved, Unplaced   uint32
	ActiveNodes, ShadowNodes uint32
}

// CompareAnswers compares two valid answers to req group by group. Tasks
// of a group are identical, so a group's moved tasks are those the shadow
// puts on a node beyond the applied answer's count there; unplaced are
// the tasks the applied answer placed beyond the shadow's placed count.
func CompareAnswers(req *sdk.ScheduleRequest, active, shadow *sdk.ScheduleResponse) Difference {
	var d Difference
	aNodes, sNodes := map[int32]bool{}, map[int32]bool{}
	for gi := range req.Groups {
		a, s := active.Groups[gi].Placements, shadow.Groups[gi].Placements
		d.Tasks += uint32(len(a))
		aCount, sCount := map[int32]int{}, map[int32]int{}
		aPlaced, sPlaced := 0, 0
		for _, n := range a {
			if n != sdk.Unschedulable {
				aCount[n]++
				aPlaced++
				aNodes[n] = true
			}
		}
		for _, n := range s {
			if n != sdk.Unschedulable {
				sCount[n]++
				sPlaced++
				sNodes[n] = true
			}
		}
		same := 0
		for n, k := range sCount {
			same += min(k, aCount[n])
		}
		d.Moved += uint32(min(sPlaced, aPlaced) - same)
		d.Unplaced += uint32(max(aPlaced-sPlaced, 0))
	}
	d.ActiveNodes, d.ShadowNodes = uint32(len(aNodes)), uint32(len(sNodes))
	return d
}

// recordShadow adds a pass to its shadow's report and metrics.
func (m *Manager) recordShadow(c shadowCall, p *shoalv1.ShadowPass) {
	mt := m.shadowMetrics
	mt.passes.WithLabelValues(c.name).Inc()
	mt.seconds.WithLabelValues(c.name).Observe(p.GetCallTime().AsDuration().Seconds())
	differs := p.GetMoved()+p.GetUnplaced() > 0
	switch {
	case p.GetError() != "":
		mt.failures.WithLabelValues(c.name).Inc()
	case differs:
		mt.differing.WithLabelValues(c.name).Inc()
		mt.moved.WithLabelValues(c.name).Add(float64(p.GetMoved()))
		mt.unplaced.WithLabelValues(c.name).Add(float64(p.GetUnplaced()))
	}
	m.shadowReport(c.name, c.service, func(r *shoalv1.ShadowReport) {
		r.Passes++
		r.CallTime = durationpb.New(r.GetCallTime().AsDuration() + p.GetCallTime().AsDuration())
		if p.GetError() != "" {
			r.Failures++
		} else if differs {
			r.DifferingPasses++
			r.Moved += uint64(p.GetMoved())
			r.Unplaced += uint64(p.GetUnplaced())
		} else {
			return
		}
		r.Last = append(r.Last, p)
		if len(r.Last) > ShadowKeep {
			r.Last = r.Last[len(r.Last)-ShadowKeep:]
		}
	})
}

func (m *Manager) shadowReport(name, service string, f func(*shoalv1.ShadowReport)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.shadows[name]
	if r == nil {
		r = &shoalv1.ShadowReport{Name: name}
		m.shadows[name] = r
	}
	r.ForService = service
	f(r)
}

// ShadowReport returns a copy of this manager's report for a shadow
// scheduler (zero counts if it never ran here).
func (m *Manager) ShadowReport(name string) *shoalv1.ShadowReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.shadows[name]; r != nil {
		return proto.Clone(r).(*shoalv1.ShadowReport)
	}
	return &shoalv1.ShadowReport{Name: name}
}
