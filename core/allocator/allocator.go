package allocator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/shoal-project/shoal/internal/clock"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
)

// Defaults.
const (
	DefaultDebounce      = 50 * time.Millisecond
	DefaultRetryInterval = 10 * time.Second
)

// Option configures an Allocator.
type Option func(*Allocator)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(a *Allocator) {
		if l != nil {
			a.log = l
		}
	}
}

// WithClock sets the clock (default: wall clock).
func WithClock(c Clock) Option {
	return func(a *Allocator) {
		if c != nil {
			a.clock = c
		}
	}
}

// WithPolicy sets the allocation policy (default: Native()). When it fails
// or answers invalidly, the native policy redoes the batch.
func WithPolicy(p Policy) Option {
	return func(a *Allocator) {
		if p != nil {
			a.policy = p
		}
	}
}

// WithDebounce sets the minimum time between passes while events arrive.
func WithDebounce(d time.Duration) Option {
	return func(a *Allocator) {
		if d > 0 {
			a.debounce = d
		}
	}
}

// PassObserver is told of every pass Run makes: its stats, how long it
// took by the allocator's clock, and its error (metrics).
type PassObserver func(stats PassStats, took time.Duration, err error)

// WithPassObserver sets the observer of Run's passes.
func WithPassObserver(f PassObserver) Option {
	return func(a *Allocator) { a.observe = f }
}

// WithPortRange sets the dynamic published port range (inclusive;
// default 30000-32767).
func WithPortRange(lo, hi uint32) Option {
	return func(a *Allocator) {
		if lo > 0 && hi >= lo && hi <= 65535 {
			a.portLo, a.portHi = lo, hi
		}
	}
}

// Allocator allocates network resources of NEW tasks and moves them to
// PENDING. Create it with New and run it with Run on the Raft leader only.
type Allocator struct {
	st       *store.Store
	log      *slog.Logger
	clock    Clock
	policy   Policy
	native   Policy
	debounce time.Duration
	retry    time.Duration
	portLo   uint32
	portHi   uint32
	observe  PassObserver
}

// New returns an allocator over st.
func New(st *store.Store, opts ...Option) *Allocator {
	a := &Allocator{
		st:       st,
		log:      slog.New(slog.DiscardHandler),
		clock:    clock.Real(),
		native:   Native(),
		debounce: DefaultDebounce,
		retry:    DefaultRetryInterval,
		portLo:   sdk.DefaultPortRangeStart,
		portHi:   sdk.DefaultPortRangeEnd,
	}
	a.policy = a.native
	for _, o := range opts {
		o(a)
	}
	return a
}

// Run allocates until ctx ends, then returns nil: a pass at once, then
// after relevant events (at most once per debounce interval) and, while
// some tasks failed, every retry interval. It returns store.ErrStoreClosed
// if the store is closed.
func (a *Allocator) Run(ctx context.Context) error {
	for {
		events, cancel, err := a.st.ViewAndWatch(func(store.ReadTx) error { return nil },
			store.ForKind(store.KindTask, store.KindService, store.KindNetwork, store.KindNode))
		if err != nil {
			return err
		}
		err = a.loop(ctx, events)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrStoreClosed) {
			return err
		}
		a.log.Info("allocator: resyncing", "reason", err)
	}
}

func (a *Allocator) loop(ctx context.Context, events <-chan store.Event) error {
	dirty := true
	var timer, retry <-chan time.Time
	for {
		if dirty && timer == nil {
			timer = a.clock.After(a.debounce)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return errors.New("allocator: watch closed")
			}
			if ev.Kind == store.EventResync {
				return ev.Err
			}
			dirty = dirty || relevant(ev)
		case <-retry:
			retry, dirty = nil, true
		case <-timer:
			timer, dirty = nil, false
			start := a.clock.Now()
			st, err := a.Pass(ctx)
			if a.observe != nil {
				a.observe(st, a.clock.Now().Sub(start), err)
			}
			if err != nil && ctx.Err() == nil {
				a.log.Warn("allocator: pass failed", "err", err)
			}
			if _, nerr := a.NodePass(ctx); nerr != nil && ctx.Err() == nil {
				a.log.Warn("allocator: node pass failed", "err", nerr)
				err = errors.Join(err, nerr)
			}
			if (err != nil || st.Failed > 0) && retry == nil {
				retry = a.clock.After(a.retry)
			}
		}
	}
}

const (
	stateNew      = shoalv1.TaskState_TASK_STATE_NEW
	statePending  = shoalv1.TaskState_TASK_STATE_PENDING
	stateRunning  = shoalv1.TaskState_TASK_STATE_RUNNING
	stateComplete = shoalv1.TaskState_TASK_STATE_COMPLETE
)

// relevant reports whether an event may give the allocator work or free
// resources for tasks that failed.
func relevant(ev store.Event) bool {
	switch ev.ObjectKind {
	case store.KindNetwork, store.KindService:
		return true
	case store.KindNode:
		return ev.Kind == store.EventCreate
	case store.KindTask:
		t := ev.Object.(*shoalv1.Task)
		switch ev.Kind {
		case store.EventCreate:
			return t.GetStatus().GetState() == stateNew
		case store.EventRemove:
			return len(t.GetNetworks()) > 0
		case store.EventUpdate:
			old, _ := ev.Old.(*shoalv1.Task)
			os, ns := old.GetStatus().GetState(), t.GetStatus().GetState()
			if ns == stateNew {
				return os != stateNew
			}
			return os < stateComplete && ns >= stateComplete && len(t.GetNetworks()) > 0
		}
	}
	return false
}
