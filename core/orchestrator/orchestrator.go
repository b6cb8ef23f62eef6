package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/internal/ids"
	"google.golang.org/protobuf/proto"
)

// errStale drops one write whose task changed since the pass read it.
var errStale = errors.New("orchestrator: object changed since it was read")

// Orchestrator reconciles services and tasks. Create it with New and run it
// with Run on the Raft leader only.
type Orchestrator struct {
	st      *store.Store
	log     *slog.Logger
	clock   Clock
	newID   func() string
	retry   time.Duration
	observe ReconcileObserver

	// Owned by the goroutine running Run (or a test driving the methods).
	all   bool
	dirty map[string]struct{}
	// nodes holds the nodes whose state, availability or description
	// changed since the last pass: the next pass plans the global services
	// and, for a node marked true (it became unavailable or available
	// again, joined or left), the services with tasks on it; not every
	// service.
	nodes    map[string]bool
	wakes    map[string]time.Time
	restarts map[restartKey][]time.Time
	versions map[string]uint64
	// updating holds the services with a rolling update under way: a task
	// of theirs reaching RUNNING needs a pass.
	updating map[string]bool
	// running holds when this leader first saw each task RUNNING: the
	// updater's monitor windows start there.
	running map[string]time.Time
	// unavailable holds the nodes that are down, drained or gone, as of
	// the last pass and the node events since: a task placed on one of
	// them (the scheduler raced the node's loss) makes its service dirty.
	unavailable map[string]bool
	// own holds the IDs of tasks this orchestrator planned to create and
	// has not seen created yet. A task created by anyone else (entries of
	// an earlier leader that committed after this one read the store) makes
	// its service dirty, so a slot it doubles is repaired.
	own map[string]struct{}
	// paceUntil is when the next pass may start (see pace).
	paceUntil time.Time
	// planned counts the services the last pass planned (logged at debug,
	// and the measure of a pass's work in tests).
	planned int
}

// New returns an orchestrator over st.
func New(st *store.Store, opts ...Option) *Orchestrator {
	o := &Orchestrator{
		st:       st,
		log:      slog.New(slog.DiscardHandler),
		clock:    clock.Real(),
		newID:    ids.New,
		retry:    DefaultRetryInterval,
		dirty:    make(map[string]struct{}),
		nodes:    make(map[string]bool),
		wakes:    make(map[string]time.Time),
		restarts: make(map[restartKey][]time.Time),
		versions: make(map[string]uint64),
		updating: make(map[string]bool),
		running:  make(map[string]time.Time),

		unavailable: make(map[string]bool),
		own:         make(map[string]struct{}),
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Run reconciles until ctx ends, then returns nil. It reads the whole store
// first, then follows its events; when the watch ends (the watcher fell
// behind, a snapshot was restored) it starts over. It returns
// store.ErrStoreClosed if the store is closed.
func (o *Orchestrator) Run(ctx context.Context) error {
	for {
		events, cancel, err := o.st.ViewAndWatch(func(store.ReadTx) error { return nil },
			store.ForKind(store.KindService, store.KindTask, store.KindNode, store.KindCluster))
		if err != nil {
			return err
		}
		o.all = true
		clear(o.own) // creates not seen before a resync count as foreign: one extra pass at most
		err = o.loop(ctx, events)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrStoreClosed) {
			return err
		}
		o.log.Info("orchestrator: resyncing", "reason", err)
	}
}

func (o *Orchestrator) loop(ctx context.Context, events <-chan store.Event) error {
	var timer <-chan time.Time
	var timerAt time.Time
	for {
		// Take everything already queued, then reconcile once.
	drain:
		for {
			select {
			case ev, ok := <-events:
				if err := o.note(ev, ok); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		pending := o.all || len(o.dirty) > 0 || len(o.nodes) > 0
		if pending && !o.clock.Now().Before(o.paceUntil) {
			start := o.clock.Now()
			if err := o.observedReconcile(ctx); err != nil && ctx.Err() == nil {
				o.log.Warn("orchestrator: reconcile failed", "err", err)
			}
			o.paceUntil = o.pace(start, o.clock.Now())
			pending = false
		}
		next := o.nextWake()
		if pending && (next.IsZero() || o.paceUntil.Before(next)) {
			next = o.paceUntil
		}
		if !next.IsZero() && (timer == nil || !next.Equal(timerAt)) {
			timer, timerAt = o.clock.After(max(next.Sub(o.clock.Now()), 0)), next
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if err := o.note(ev, ok); err != nil {
				return err
			}
		case <-timer:
			timer, timerAt = nil, time.Time{}
			o.wakeDue(o.clock.Now())
		}
	}
}

// Pass pacing. A pass over a big service costs its tasks (a 100,000-replica
// service: 0.2–0.5 s), and events that each need one (nodes downed and
// back, tasks ending) can come faster than that: back to back, such passes
// took ~40 % of a loaded leader at 2,400 nodes x 100k tasks and starved
// the rest of it. So after a pass that took d, the next waits until d x
// paceFactor has passed (the events meanwhile are collected into it), at
// most maxPace: the orchestrator takes at most about a quarter of a
// processor, and a cluster whose passes take microseconds (any small one)
// is not slowed at all.
const (
	paceFactor = 3
	maxPace    = 2 * time.Second
)

// pace is when the next pass may start after one from start to end.
func (o *Orchestrator) pace(start, end time.Time) time.Time {
	return end.Add(min(end.Sub(start)*paceFactor, maxPace))
}

// note records what an event makes dirty.
func (o *Orchestrator) note(ev store.Event, ok bool) error {
	if !ok {
		return errors.New("orchestrator: watch closed")
	}
	switch ev.Kind {
	case store.EventCommit:
		return nil
	case store.EventResync:
		return ev.Err
	}
	switch ev.ObjectKind {
	case store.KindService:
		o.dirty[ev.Object.GetId()] = struct{}{}
	case store.KindCluster:
		o.all = true
	case store.KindNode:
		old, _ := ev.Old.(*shoalv1.Node)
		cur := ev.Object.(*shoalv1.Node)
		if ev.Kind != store.EventUpdate || nodeChanged(old, cur) {
			// A replicated service's plan reads a node only through
			// nodeUnavailable: a change that keeps it (READY to
			// DISCONNECTED and back, a new label) concerns the global
			// services alone.
			id := cur.GetId()
			o.nodes[id] = o.nodes[id] || ev.Kind != store.EventUpdate || nodeUnavailable(old) != nodeUnavailable(cur)
		}
		if ev.Kind == store.EventRemove || nodeUnavailable(cur) {
			o.unavailable[cur.GetId()] = true
		} else {
			delete(o.unavailable, cur.GetId())
		}
	case store.KindTask:
		t := ev.Object.(*shoalv1.Task)
		old, _ := ev.Old.(*shoalv1.Task)
		if n := t.GetNodeId(); n != "" && n != old.GetNodeId() && o.unavailable[n] && ev.Kind != store.EventRemove {
			// Placed on a node that is down, drained or gone: move it.
			o.dirty[t.GetServiceId()] = struct{}{}
		}
		switch ev.Kind {
		case store.EventCreate:
			if _, mine := o.own[t.GetId()]; mine {
				delete(o.own, t.GetId())
			} else {
				o.dirty[t.GetServiceId()] = struct{}{}
			}
		case store.EventRemove:
			o.dirty[t.GetServiceId()] = struct{}{}
		case store.EventUpdate:
			// A task ending needs a plan; one reaching RUNNING only
			// when its service has an update waiting on it (at scale,
			// re-planning a big service for every RUNNING batch costs
			// more than everything else the leader does).
			s := t.GetStatus().GetState()
			if s != old.GetStatus().GetState() && (s > stateRunning || s == stateRunning && o.updating[t.GetServiceId()]) || moveEvent(t, old) {
				o.dirty[t.GetServiceId()] = struct{}{}
			}
		}
	}
	return nil
}

func (o *Orchestrator) nextWake() time.Time {
	var next time.Time
	for _, w := range o.wakes {
		if next.IsZero() || w.Before(next) {
			next = w
		}
	}
	return next
}

// wakeDue marks dirty every service whose wake time has come.
func (o *Orchestrator) wakeDue(now time.Time) {
	for id, w := range o.wakes {
		if !now.Before(w) {
			o.dirty[id] = struct{}{}
			delete(o.wakes, id)
		}
	}
}

// observedReconcile reconciles and tells the observer about it.
func (o *Orchestrator) observedReconcile(ctx context.Context) error {
	start := o.clock.Now()
	err := o.reconcile(ctx)
	if o.observe != nil {
		o.observe(o.clock.Now().Sub(start), err)
	}
	return err
}

// reconcile plans and commits one pass over the dirty services (all of
// them, and tasks of removed services, when o.all is set).
func (o *Orchestrator) reconcile(ctx context.Context) error {
	e := &env{now: o.clock.Now(), nodes: make(map[string]*shoalv1.Node), historyLimit: DefaultTaskHistoryLimit}
	services := make(map[string]*shoalv1.Service)
	tasks := make(map[string][]*shoalv1.Task)
	all := o.all
	dirty, nodes := o.dirty, o.nodes
	o.all, o.dirty, o.nodes = false, make(map[string]struct{}), make(map[string]bool)
	err := o.st.View(func(tx store.ReadTx) error {
		if err := tx.Range(store.KindCluster, store.All(), func(obj store.Object) bool {
			if l := obj.(*shoalv1.Cluster).GetSpec().GetTaskHistoryLimit(); l > 0 {
				e.historyLimit = int(l)
			}
			return false
		}); err != nil {
			return err
		}
		clear(o.unavailable)
		if err := tx.Range(store.KindNode, store.All(), func(obj store.Object) bool {
			n := obj.(*shoalv1.Node)
			e.nodes[n.GetId()] = n
			if nodeLost(n) || nodeDrained(n) {
				o.unavailable[n.GetId()] = true
			}
			return true
		}); err != nil {
			return err
		}
		if all {
			if err := tx.Range(store.KindService, store.All(), func(obj store.Object) bool {
				services[obj.GetId()] = obj.(*shoalv1.Service)
				tasks[obj.GetId()] = nil
				return true
			}); err != nil {
				return err
			}
			return tx.Range(store.KindTask, store.All(), func(obj store.Object) bool {
				t := obj.(*shoalv1.Task)
				tasks[t.GetServiceId()] = append(tasks[t.GetServiceId()], t)
				return true
			})
		}
		if err := dirtyForNodes(tx, nodes, dirty); err != nil {
			return err
		}
		for id := range dirty {
			if s := tx.Get(store.KindService, id); s != nil {
				services[id] = s.(*shoalv1.Service)
			}
			tasks[id] = nil
			if err := tx.Range(store.KindTask, store.ByService(id), func(obj store.Object) bool {
				tasks[id] = append(tasks[id], obj.(*shoalv1.Task))
				return true
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.restoreDirty(all, dirty, nodes)
		return fmt.Errorf("orchestrator: read: %w", err)
	}

	p := newPlan()
	o.planned = len(tasks)
	o.log.Debug("orchestrator: pass", "all", all, "services", len(tasks), "nodes", len(nodes))
	for id, ts := range tasks {
		svc := services[id]
		delete(o.wakes, id)
		if svc == nil {
			o.forget(id)
			for _, t := range ts {
				delete(o.running, t.GetId())
			}
		} else if v, ok := o.versions[id]; !ok || v != svc.GetSpecVersion() {
			o.forgetRestarts(id)
			o.versions[id] = svc.GetSpecVersion()
		}
		o.planService(p, id, svc, ts, e)
	}
	for id, w := range p.wakes {
		o.wakes[id] = w
	}
	for _, t := range p.creates {
		o.own[t.GetId()] = struct{}{}
	}
	stale, err := o.commit(ctx, p)
	for id := range stale {
		o.wake(id, e.now.Add(o.retry))
	}
	if err != nil {
		for _, t := range p.creates {
			delete(o.own, t.GetId()) // some may have been written: their events then count as foreign, which only costs a pass
		}
		for id := range tasks {
			o.wake(id, e.now.Add(o.retry))
		}
		return err
	}
	for _, rk := range p.restarts {
		o.restarts[rk] = append(o.restarts[rk], e.now)
	}
	return nil
}

func (o *Orchestrator) wake(id string, at time.Time) {
	if w, ok := o.wakes[id]; !ok || at.Before(w) {
		o.wakes[id] = at
	}
}

func (o *Orchestrator) restoreDirty(all bool, dirty map[string]struct{}, nodes map[string]bool) {
	o.all = o.all || all
	for id := range dirty {
		o.dirty[id] = struct{}{}
	}
	for id, withTasks := range nodes {
		o.nodes[id] = o.nodes[id] || withTasks
	}
}

// dirtyForNodes adds to dirty what a change of the given nodes can affect:
// the services (existing or removed) with tasks on the nodes marked true,
// whose tasks may have to move or whose history may be cleaned, and every
// global service,
// whose slots follow the node set. A replicated service with no task on
// those nodes plans the same as before, so it is left alone: a node event
// costs the tasks on that node, not the cluster's.
func dirtyForNodes(tx store.ReadTx, nodes map[string]bool, dirty map[string]struct{}) error {
	if len(nodes) == 0 {
		return nil
	}
	if err := tx.Range(store.KindService, store.All(), func(obj store.Object) bool {
		if obj.(*shoalv1.Service).GetSpec().GetGlobal() != nil {
			dirty[obj.GetId()] = struct{}{}
		}
		return true
	}); err != nil {
		return err
	}
	for id, withTasks := range nodes {
		if !withTasks {
			continue
		}
		if err := tx.Range(store.KindTask, store.ByNode(id), func(obj store.Object) bool {
			dirty[obj.(*shoalv1.Task).GetServiceId()] = struct{}{}
			return true
		}); err != nil {
			return err
		}
	}
	return nil
}

func (o *Orchestrator) forget(service string) {
	delete(o.versions, service)
	delete(o.updating, service)
	o.forgetRestarts(service)
}

func (o *Orchestrator) forgetRestarts(service string) {
	for rk := range o.restarts {
		if rk.service == service {
			delete(o.restarts, rk)
		}
	}
}

// commit writes a plan in one store.Batch. It returns the services some of
// whose writes were dropped because what they were based on changed.
func (o *Orchestrator) commit(ctx context.Context, p *plan) (map[string]struct{}, error) {
	stale := make(map[string]struct{})
	if len(p.changes)+len(p.removes)+len(p.creates)+len(p.services) == 0 {
		return stale, nil
	}
	removed := make(map[string]bool, len(p.removes))
	for _, r := range p.removes {
		removed[r.id] = true
	}
	err := o.st.Batch(ctx, func(b *store.Batch) error {
		check := func(tx store.Tx, r taskRef) (*shoalv1.Task, error) {
			t := tx.GetTask(r.id)
			if t == nil || t.GetMeta().GetVersion() != r.version {
				return nil, errStale
			}
			return t, nil
		}
		handle := func(service string, err error) error {
			if errors.Is(err, errStale) {
				stale[service] = struct{}{}
				return nil
			}
			return err
		}
		for _, c := range p.changes {
			if removed[c.id] {
				continue
			}
			err := b.Update(func(tx store.Tx) error {
				t, err := check(tx, c.taskRef)
				if err != nil {
					return err
				}
				t = store.ShallowCopy(t) // reads are shared: change a copy
				t.DesiredState = c.state
				return tx.Update(t)
			})
			if err := handle(c.service, err); err != nil {
				return err
			}
		}
		for _, r := range p.removes {
			err := b.Update(func(tx store.Tx) error {
				if _, err := check(tx, r); err != nil {
					return err
				}
				return tx.Delete(store.KindTask, r.id)
			})
			if err := handle(r.service, err); err != nil {
				return err
			}
		}
		// Creates are only valid for the spec version they were planned
		// from: check each service once.
		valid := make(map[string]bool)
		for _, t := range p.creates {
			ok, seen := valid[t.GetServiceId()]
			if !seen {
				err := b.Update(func(tx store.Tx) error {
					s := tx.GetService(t.GetServiceId())
					if s == nil || s.GetSpecVersion() != p.versions[t.GetServiceId()] {
						return errStale
					}
					return nil
				})
				ok = err == nil
				valid[t.GetServiceId()] = ok
				if err := handle(t.GetServiceId(), err); err != nil {
					return err
				}
			}
			if !ok {
				continue
			}
			if err := b.Update(func(tx store.Tx) error { return tx.Create(t) }); err != nil {
				return err
			}
		}
		for _, w := range p.services {
			err := b.Update(func(tx store.Tx) error {
				s := tx.GetService(w.id)
				if s == nil || s.GetMeta().GetVersion() != w.version {
					return errStale
				}
				s = proto.CloneOf(s) // reads are shared: change a copy
				w.apply(s)
				return tx.Update(s)
			})
			if err := handle(w.id, err); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return stale, fmt.Errorf("orchestrator: commit: %w", err)
	}
	return stale, nil
}
