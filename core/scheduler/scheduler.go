package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock"
)

// DefaultDebounce is how long the scheduler collects events before a pass.
const DefaultDebounce = 50 * time.Millisecond

// Option configures a Scheduler.
type Option func(*Scheduler)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Scheduler) {
		if l != nil {
			s.log = l
		}
	}
}

// WithClock sets the clock (default: wall clock).
func WithClock(c Clock) Option {
	return func(s *Scheduler) {
		if c != nil {
			s.clock = c
		}
	}
}

// WithPolicySource sets where policies come from (default: NativeSource).
// The native spread and binpack stay available whatever the source says.
func WithPolicySource(src PolicySource) Option {
	return func(s *Scheduler) {
		if src != nil {
			s.src = src
		}
	}
}

// WithDebounce sets the minimum time between passes while events arrive
// (default DefaultDebounce).
func WithDebounce(d time.Duration) Option {
	return func(s *Scheduler) {
		if d > 0 {
			s.debounce = d
		}
	}
}

// PassObserver is told of every pass Run makes: its stats, how long it
// took by the scheduler's clock, and its error (metrics).
type PassObserver func(stats PassStats, took time.Duration, err error)

// WithPassObserver sets the observer of Run's passes.
func WithPassObserver(f PassObserver) Option {
	return func(s *Scheduler) { s.observe = f }
}

// Scheduler assigns pending tasks to nodes. Create it with New and run it
// with Run on the Raft leader only.
type Scheduler struct {
	st       *store.Store
	log      *slog.Logger
	clock    Clock
	src      PolicySource
	debounce time.Duration
	observe  PassObserver
	shadow   ShadowTap

	tr        tracker // the node table and pending groups between passes
	fullReads int     // times the tracker read the whole store (tests)
}

// New returns a scheduler over st.
func New(st *store.Store, opts ...Option) *Scheduler {
	s := &Scheduler{
		st:       st,
		log:      slog.New(slog.DiscardHandler),
		clock:    clock.Real(),
		src:      NativeSource{},
		debounce: DefaultDebounce,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Run schedules until ctx ends, then returns nil. It runs a pass at once,
// then after events that may make pending tasks placeable (new pending
// tasks, node changes, tasks leaving nodes), at most once per debounce
// interval. It returns store.ErrStoreClosed if the store is closed.
//
// Run keeps the node table and the pending groups between passes,
// following the store's events; it reads the whole store when it starts
// (each term of leadership runs it anew) and whenever it cannot trust its
// copy (its watch fell behind, a snapshot was restored).
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.tr.stop()
	for {
		if err := s.startTracker(); err != nil {
			return err
		}
		err := s.loop(ctx)
		s.tr.stop()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrStoreClosed) {
			return err
		}
		s.log.Info("scheduler: resyncing", "reason", err)
	}
}

func (s *Scheduler) loop(ctx context.Context) error {
	dirty := true
	var timer <-chan time.Time
	for {
		if dirty && timer == nil {
			timer = s.clock.After(s.debounce)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-s.tr.events: // a pass may restart the tracker
			if !ok {
				return errWatchClosed
			}
			if ev.Kind == store.EventResync {
				return ev.Err
			}
			s.tr.apply(ev)
			dirty = dirty || relevant(ev)
		case <-timer:
			timer, dirty = nil, false
			if err := s.observedPass(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("scheduler: pass failed", "err", err)
				dirty = true // retry after the debounce interval
			}
		}
	}
}

// observedPass runs a pass and tells the observer about it.
func (s *Scheduler) observedPass(ctx context.Context) error {
	start := s.clock.Now()
	stats, err := s.Pass(ctx)
	if s.observe != nil {
		s.observe(stats, s.clock.Now().Sub(start), err)
	}
	return err
}

const (
	statePending  = shoalv1.TaskState_TASK_STATE_PENDING
	stateAssigned = shoalv1.TaskState_TASK_STATE_ASSIGNED
	stateRunning  = shoalv1.TaskState_TASK_STATE_RUNNING
	stateComplete = shoalv1.TaskState_TASK_STATE_COMPLETE
)

// holds reports whether a task in observed state st holds resources on its
// node.
func holds(t *shoalv1.Task) bool {
	st := t.GetStatus().GetState()
	return t.GetNodeId() != "" && st >= stateAssigned && st < stateComplete
}

// relevant reports whether an event may make a pending task placeable.
func relevant(ev store.Event) bool {
	switch ev.ObjectKind {
	case store.KindCluster:
		return true
	case store.KindNode:
		old, _ := ev.Old.(*shoalv1.Node)
		return ev.Kind != store.EventUpdate || nodeChanged(old, ev.Object.(*shoalv1.Node))
	case store.KindTask:
		t := ev.Object.(*shoalv1.Task)
		switch ev.Kind {
		case store.EventCreate:
			return t.GetStatus().GetState() == statePending
		case store.EventRemove:
			return holds(t)
		case store.EventUpdate:
			old, _ := ev.Old.(*shoalv1.Task)
			if t.GetStatus().GetState() == statePending {
				return old.GetStatus().GetState() != statePending
			}
			// A task stopped holding resources (not our own assignment).
			return holds(old) && !holds(t)
		}
	}
	return false
}

// nodeChanged reports whether a node update matters for placement
// (heartbeat-only updates do not).
func nodeChanged(old, cur *shoalv1.Node) bool {
	if old == nil || cur == nil {
		return true
	}
	od, cd := old.GetDescription(), cur.GetDescription()
	return old.GetStatus().GetState() != cur.GetStatus().GetState() ||
		old.GetSpec().GetAvailability() != cur.GetSpec().GetAvailability() ||
		old.GetRole() != cur.GetRole() ||
		od.GetHostname() != cd.GetHostname() ||
		od.GetResources().GetNanoCpus() != cd.GetResources().GetNanoCpus() ||
		od.GetResources().GetMemoryBytes() != cd.GetResources().GetMemoryBytes() ||
		!slices.Equal(od.GetKinds(), cd.GetKinds()) ||
		!maps.Equal(old.GetSpec().GetLabels(), cur.GetSpec().GetLabels())
}
