package orchestrator

import (
	"log/slog"
	"time"
)

// Defaults.
const (
	// DefaultTaskHistoryLimit is the number of tasks kept per slot when the
	// cluster spec leaves task_history_limit at 0.
	DefaultTaskHistoryLimit = 5
	// DefaultRestartDelay is used when a restart policy has no delay set
	// (as in swarm mode). An explicit zero delay restarts at once.
	DefaultRestartDelay = 5 * time.Second
	// DefaultRetryInterval is how long the orchestrator waits before
	// retrying services whose writes failed.
	DefaultRetryInterval = time.Second
)

// Option configures an Orchestrator.
type Option func(*Orchestrator)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *Orchestrator) {
		if l != nil {
			o.log = l
		}
	}
}

// WithClock sets the clock (default: wall clock). Restart delays are
// measured from a task's Meta.CreatedAt, which the store stamps with its
// own clock: give the store the same clock (store.WithClock).
func WithClock(c Clock) Option {
	return func(o *Orchestrator) {
		if c != nil {
			o.clock = c
		}
	}
}

// ReconcileObserver is told of every reconcile pass Run makes: how long it
// took by the orchestrator's clock and its error (metrics).
type ReconcileObserver func(took time.Duration, err error)

// WithReconcileObserver sets the observer of Run's reconcile passes.
func WithReconcileObserver(f ReconcileObserver) Option {
	return func(o *Orchestrator) { o.observe = f }
}

// WithIDGenerator sets the function that names new tasks (default: 25
// random base32 characters).
func WithIDGenerator(f func() string) Option {
	return func(o *Orchestrator) {
		if f != nil {
			o.newID = f
		}
	}
}

// WithUpdateParallelism bounds how many slots of a service are replaced
// at once when its spec changes: a new batch starts only when fewer than n
// tasks of the new version have yet to reach RUNNING. 0 (default) replaces
// every outdated task at once.
func WithUpdateParallelism(n int) Option {
	return func(o *Orchestrator) {
		if n >= 0 {
			o.parallelism = n
		}
	}
}
