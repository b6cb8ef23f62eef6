package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/sdk"
)

// errStale drops the write of a move whose task changed since the pass read it.
var errStale = errors.New("rebalancer: task changed since it was read")

// Policy is a rebalancing policy: a rebalancer plugin.
type Policy interface {
	Rebalance(ctx context.Context, req *sdk.RebalanceRequest) (*sdk.RebalanceResponse, error)
}

// Source finds a rebalancer by name (pluginmgr.Manager is one).
type Source interface {
	Rebalancer(name string) (Policy, error)
}

// Rebalancer runs rebalancer plugins over the services that name one.
// Create it with New and run it with Run on the Raft leader only.
type Rebalancer struct {
	st      *store.Store
	src     Source
	clock   clock.Clock
	log     *slog.Logger
	metrics *Metrics

	// Owned by Run.
	due map[string]time.Time // service -> next pass
}

// Option configures a Rebalancer.
type Option func(*Rebalancer)

// WithClock sets the clock (default: wall clock). The move window is
// measured from a task's Meta.CreatedAt, stamped by the store's clock.
func WithClock(c clock.Clock) Option { return func(r *Rebalancer) { r.clock = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(r *Rebalancer) { r.log = l } }

// WithMetrics sets the counters passes add to (default: none kept).
func WithMetrics(m *Metrics) Option { return func(r *Rebalancer) { r.metrics = m } }

// New returns a rebalancer over st asking src for plugins.
func New(st *store.Store, src Source, opts ...Option) *Rebalancer {
	r := &Rebalancer{st: st, src: src, clock: clock.Real(), log: slog.New(slog.DiscardHandler), due: map[string]time.Time{}}
	for _, o := range opts {
		o(r)
	}
	if r.metrics == nil {
		r.metrics = NewMetrics(nil)
	}
	return r
}

// Run rebalances until ctx ends, then returns nil. Every service is first
// due one interval after Run starts (a new leader does not move tasks at
// once); a node becoming READY or joining makes every service due now.
func (r *Rebalancer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		events, cancel, err := r.st.ViewAndWatch(func(tx store.ReadTx) error {
			now := r.clock.Now()
			return tx.Range(store.KindService, store.All(), func(o store.Object) bool {
				if _, ok := r.due[o.GetId()]; !ok {
					r.due[o.GetId()] = now.Add(r.intervalOf(tx, o.(*shoalv1.Service)))
				}
				return true
			})
		}, store.ForKind(store.KindService, store.KindNode, store.KindCluster))
		if err != nil {
			return err
		}
		err = r.loop(ctx, events)
		cancel()
		if errors.Is(err, store.ErrStoreClosed) {
			return err
		}
	}
	return nil
}

func (r *Rebalancer) intervalOf(tx store.ReadTx, svc *shoalv1.Service) time.Duration {
	if c, ok := ConfigFor(clusterSpec(tx), svc); ok {
		return c.Interval
	}
	return DefaultInterval
}

func clusterSpec(tx store.ReadTx) *shoalv1.ClusterSpec {
	var spec *shoalv1.ClusterSpec
	_ = tx.Range(store.KindCluster, store.All(), func(o store.Object) bool {
		spec = o.(*shoalv1.Cluster).GetSpec()
		return false
	})
	return spec
}

func (r *Rebalancer) loop(ctx context.Context, events <-chan store.Event) error {
	for {
		now := r.clock.Now()
		var next time.Time
		for id, at := range r.due {
			if !now.Before(at) {
				r.due[id] = now.Add(r.Pass(ctx, id))
				at = r.due[id]
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = r.clock.After(max(next.Sub(r.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer:
		case ev, ok := <-events:
			if !ok {
				return errors.New("rebalancer: watch closed")
			}
			if ev.Kind == store.EventResync {
				return ev.Err
			}
			r.note(ev)
		}
	}
}

// note reacts to a change: a node that became READY makes every service
// due now, a new service is due one default interval on.
func (r *Rebalancer) note(ev store.Event) {
	switch o := ev.Object.(type) {
	case *shoalv1.Node:
		old, _ := ev.Old.(*shoalv1.Node)
		if ev.Kind != store.EventRemove && o.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY &&
			(old == nil || old.GetStatus().GetState() != shoalv1.NodeState_NODE_STATE_READY) {
			now := r.clock.Now()
			for id := range r.due {
				r.due[id] = now
			}
		}
	case *shoalv1.Cluster:
		// A cluster-wide rebalancer takes effect within its interval.
		if rc := o.GetSpec().GetRebalance(); rc.GetPlugin() != "" && !rc.GetDisabled() {
			wait := rc.GetInterval().AsDuration()
			if wait <= 0 {
				wait = DefaultInterval
			}
			at := r.clock.Now().Add(wait)
			for id, due := range r.due {
				if at.Before(due) {
					r.due[id] = at
				}
			}
		}
	case *shoalv1.Service:
		switch ev.Kind {
		case store.EventRemove:
			delete(r.due, o.GetId())
		case store.EventCreate:
			wait := DefaultInterval
			if c, ok := ConfigFor(nil, o); ok {
				wait = c.Interval
			}
			r.due[o.GetId()] = r.clock.Now().Add(wait)
		case store.EventUpdate:
			// A changed rebalance config takes effect within its interval.
			if c, ok := ConfigFor(nil, o); ok {
				if at := r.clock.Now().Add(c.Interval); at.Before(r.due[o.GetId()]) {
					r.due[o.GetId()] = at
				}
			}
		}
	}
}

// Pass runs the rebalancer of one service once, if it has one and is
// settled, and applies the accepted moves. It returns how long to wait
// before the next pass. Run calls it; tests may call it directly (never
// concurrently with Run).
func (r *Rebalancer) Pass(ctx context.Context, serviceID string) time.Duration {
	s, wait, err := r.read(serviceID)
	if err != nil || s == nil {
		if err != nil {
			r.log.Warn("rebalancer: read", "service", serviceID, "err", err)
		}
		return wait
	}
	if stale := staleTargets(s); len(stale) > 0 {
		if err := r.clearTargets(ctx, stale); err != nil {
			r.log.Warn("rebalancer: clear the marks of failed moves", "service", s.Service.GetSpec().GetName(), "err", err)
		}
		return min(settleRetry, s.Config.Interval) // look again at what the store now says
	}
	if why := unsettled(s); why != "" {
		r.log.Debug("rebalancer: service not settled; later", "service", s.Service.GetSpec().GetName(), "why", why)
		return min(settleRetry, s.Config.Interval)
	}
	moves, err := r.propose(ctx, s)
	if err != nil {
		r.metrics.passes.WithLabelValues("failed").Inc()
		r.log.Warn("rebalancer: plugin failed; nothing moves", "service", s.Service.GetSpec().GetName(), "plugin", s.Config.Plugin, "err", err)
		return s.Config.Interval
	}
	r.metrics.passes.WithLabelValues("ok").Inc()
	var accepted []Move
	for _, m := range moves {
		r.metrics.moves.WithLabelValues("proposed").Inc()
		if m.Rejected != "" {
			r.metrics.moves.WithLabelValues("rejected").Inc()
			r.metrics.rejected.WithLabelValues(m.Rejected).Inc()
			r.log.Info("rebalancer: move rejected", "service", s.Service.GetSpec().GetName(), "task", m.TaskID, "to", m.To, "reason", m.Rejected)
			continue
		}
		accepted = append(accepted, m)
	}
	applied, err := r.apply(ctx, accepted)
	r.metrics.moves.WithLabelValues("applied").Add(float64(applied))
	if err != nil {
		r.log.Warn("rebalancer: apply moves", "service", s.Service.GetSpec().GetName(), "err", err)
	}
	if applied > 0 {
		r.log.Info("rebalancer: moving tasks", "service", s.Service.GetSpec().GetName(), "moves", applied, "plugin", s.Config.Plugin)
	}
	return s.Config.Interval
}

// read gathers the pass's state; a nil State means the service is gone or
// not rebalanced (wait says when to look again).
func (r *Rebalancer) read(serviceID string) (*State, time.Duration, error) {
	s := &State{Now: r.clock.Now()}
	wait := DefaultInterval
	err := r.st.View(func(tx store.ReadTx) error {
		svc, _ := tx.Get(store.KindService, serviceID).(*shoalv1.Service)
		if svc == nil {
			return nil
		}
		c, ok := ConfigFor(clusterSpec(tx), svc)
		if !ok {
			return nil
		}
		s.Service, s.Config, wait = svc, c, c.Interval
		var err error
		if s.Tasks, err = tx.FindTasks(store.ByService(serviceID)); err != nil {
			return err
		}
		if s.Nodes, err = tx.FindNodes(store.All()); err != nil {
			return err
		}
		for st := shoalv1.TaskState_TASK_STATE_ASSIGNED; st <= shoalv1.TaskState_TASK_STATE_RUNNING; st++ {
			ts, err := tx.FindTasks(store.ByTaskState(st))
			if err != nil {
				return err
			}
			s.Holding = append(s.Holding, ts...)
		}
		return nil
	})
	if err != nil || s.Service == nil {
		return nil, wait, err
	}
	return s, wait, nil
}

// unsettled says why a service must not be rebalanced now ("" = it may):
// never during a rolling update or rollback, while a move is under way, or
// while any live task has not reached RUNNING.
func unsettled(s *State) string {
	svc := s.Service
	if st := svc.GetUpdateStatus(); st.GetSpecVersion() == svc.GetSpecVersion() {
		switch st.GetState() {
		case shoalv1.UpdateState_UPDATE_STATE_UPDATING, shoalv1.UpdateState_UPDATE_STATE_PAUSED,
			shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED, shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED:
			return "update or rollback under way"
		}
	}
	replaced := make(map[string]bool)
	for _, t := range s.Tasks {
		if f := t.GetRebalanceFrom(); f != "" {
			replaced[f] = true
		}
	}
	live := liveTasks(s)
	for _, t := range live {
		switch {
		case t.GetSpecVersion() != svc.GetSpecVersion():
			return "tasks of an older spec remain"
		case t.GetRebalanceTarget() != "" && !replaced[t.GetId()]:
			return "a move is under way"
		case t.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_RUNNING:
			return "task " + t.GetId() + " is not running"
		}
	}
	if r := svc.GetSpec().GetReplicated(); r != nil && uint64(len(live)) != r.GetReplicas() {
		return fmt.Sprintf("%d live tasks for %d replicas", len(live), r.GetReplicas())
	}
	return ""
}

// propose asks the service's plugin and validates its answer.
func (r *Rebalancer) propose(ctx context.Context, s *State) ([]Move, error) {
	req := Request(s)
	if req == nil {
		return nil, nil
	}
	p, err := r.src.Rebalancer(s.Config.Plugin)
	if err != nil {
		return nil, err
	}
	resp, err := p.Rebalance(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("plugin error: %s", resp.Error)
	}
	return Validate(s, req, resp), nil
}

// DryRun is what a pass would propose for s with p, applying nothing.
func DryRun(ctx context.Context, p Policy, s *State) ([]Move, error) {
	req := Request(s)
	if req == nil {
		return nil, nil
	}
	resp, err := p.Rebalance(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("plugin error: %s", resp.Error)
	}
	return Validate(s, req, resp), nil
}

// apply marks each accepted move's task with its target in one batch; a
// task that changed since the pass read it is skipped.
func (r *Rebalancer) apply(ctx context.Context, moves []Move) (int, error) {
	if len(moves) == 0 {
		return 0, nil
	}
	applied := 0
	err := r.st.Batch(ctx, func(b *store.Batch) error {
		for _, m := range moves {
			err := b.Update(func(tx store.Tx) error {
				t := tx.GetTask(m.TaskID)
				if t == nil || t.GetNodeId() != m.From || t.GetRebalanceTarget() != "" ||
					t.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_RUNNING || t.GetDesiredState() != shoalv1.TaskState_TASK_STATE_RUNNING {
					return errStale
				}
				t = store.ShallowCopy(t)
				t.RebalanceTarget = m.To
				return tx.Update(t)
			})
			switch {
			case err == nil:
				applied++
			case !errors.Is(err, errStale):
				return err
			}
		}
		return nil
	})
	return applied, err
}

// clearTargets removes the move marks of tasks whose move failed.
func (r *Rebalancer) clearTargets(ctx context.Context, tasks []*shoalv1.Task) error {
	return r.st.Batch(ctx, func(b *store.Batch) error {
		for _, want := range tasks {
			err := b.Update(func(tx store.Tx) error {
				t := tx.GetTask(want.GetId())
				if t == nil || t.GetMeta().GetVersion() != want.GetMeta().GetVersion() {
					return errStale
				}
				t = store.ShallowCopy(t)
				t.RebalanceTarget = ""
				return tx.Update(t)
			})
			if err != nil && !errors.Is(err, errStale) {
				return err
			}
		}
		return nil
	})
}
