package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime"
)

type waitResult struct {
	st  runtime.Status
	err error
}

// worker drives one task. Its goroutine (run) is alive only while there is
// something to do: starting, waiting for exit, stopping; a task in a final
// state has no goroutine until its assignment changes again.
type worker struct {
	a  *Agent
	id string

	mu       sync.Mutex
	task     *shoalv1.Task // latest assignment
	removed  bool
	alive    bool
	dirty    bool               // changed since run last looked
	cancelOp context.CancelFunc // cancels a blocking Prepare/Start
	kick     chan struct{}      // cap 1

	// owned by run
	ctl      runtime.Controller
	waitC    chan waitResult // non-nil while a Wait is outstanding
	attached bool            // this agent connected the task to its cluster networks
}

func newWorker(a *Agent, t *shoalv1.Task) *worker {
	return &worker{a: a, id: t.GetId(), task: t, kick: make(chan struct{}, 1)}
}

// wantsStart says whether the task may start now. A desired state of READY
// means the orchestrator holds it back (a restart delay): prepare only.
func wantsStart(t *shoalv1.Task) bool {
	return t.GetDesiredState() == shoalv1.TaskState_TASK_STATE_RUNNING
}

func wantsStop(t *shoalv1.Task) bool {
	return t.GetDesiredState() > shoalv1.TaskState_TASK_STATE_RUNNING
}

// set records a new assignment for the task and wakes the worker.
func (w *worker) set(ctx context.Context, t *shoalv1.Task) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.task = t
	if wantsStop(t) && w.cancelOp != nil {
		w.cancelOp()
	}
	w.wakeLocked(ctx)
}

// remove tells the worker the task is no longer assigned: stop and remove it.
func (w *worker) remove(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.removed = true
	if w.cancelOp != nil {
		w.cancelOp()
	}
	w.wakeLocked(ctx)
}

func (w *worker) wakeLocked(ctx context.Context) {
	w.dirty = true
	select {
	case w.kick <- struct{}{}:
	default:
	}
	if !w.alive {
		w.alive = true
		w.a.wg.Add(1)
		go w.run(ctx)
	}
}

func (w *worker) snapshot() (*shoalv1.Task, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dirty = false
	return w.task, w.removed
}

// taskNow is the latest assignment, without marking it seen.
func (w *worker) taskNow() *shoalv1.Task {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.task
}

// idle ends the goroutine unless something changed meanwhile.
func (w *worker) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirty {
		return false
	}
	w.alive = false
	return true
}

func (w *worker) report(state shoalv1.TaskState, msg string, mod func(*shoalv1.TaskStatus)) {
	st := &shoalv1.TaskStatus{State: state, Message: msg, Timestamp: timestamppb.New(w.a.cfg.Clock.Now())}
	if mod != nil {
		mod(st)
	}
	if w.a.rep.report(w.id, st) {
		w.a.log.Debug("task state", "task", w.id, "state", state, "msg", msg)
	}
}

func (w *worker) current() shoalv1.TaskState { return w.a.rep.state(w.id).GetState() }

func terminal(s shoalv1.TaskState) bool { return s >= shoalv1.TaskState_TASK_STATE_COMPLETE }

func (w *worker) run(ctx context.Context) {
	defer w.a.wg.Done()
	for {
		if ctx.Err() != nil {
			w.mu.Lock()
			w.alive = false
			w.mu.Unlock()
			return // the agent stops; tasks keep running
		}
		t, removed := w.snapshot()
		cur := w.current()
		switch {
		case removed:
			w.teardown(ctx, t, true)
			w.a.forgetWorker(w)
			w.mu.Lock()
			w.alive = false
			w.mu.Unlock()
			return
		case wantsStop(t):
			if !terminal(cur) {
				w.teardown(ctx, t, false)
			}
		case terminal(cur):
			// Done; the orchestrator replaces the task if needed.
		case cur == shoalv1.TaskState_TASK_STATE_RUNNING:
			if !w.attached && !w.reattach(ctx, t) {
				continue
			}
			if w.waitExit(ctx) {
				continue
			}
		case cur == shoalv1.TaskState_TASK_STATE_READY && !wantsStart(t):
			// Prepared; the orchestrator raises the desired state to
			// RUNNING when the restart delay ends.
		default:
			w.start(ctx, t)
			continue
		}
		if w.waitC == nil && w.idle() {
			return
		}
		select {
		case <-w.kick:
		case <-ctx.Done():
		}
	}
}

// controller returns (and caches) the task's controller.
func (w *worker) controller(t *shoalv1.Task) (runtime.Controller, error) {
	if w.ctl != nil {
		return w.ctl, nil
	}
	spec, err := SpecFromTask(t)
	if err != nil {
		return nil, err
	}
	ctl, err := w.a.cfg.Backend.Controller(spec)
	if err != nil {
		return nil, err
	}
	w.ctl = ctl
	return ctl, nil
}

// opContext returns a context cancelled when the task must stop.
func (w *worker) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	opCtx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	w.cancelOp = cancel
	if w.removed || wantsStop(w.task) {
		cancel()
	}
	w.mu.Unlock()
	return opCtx, func() {
		w.mu.Lock()
		w.cancelOp = nil
		w.mu.Unlock()
		cancel()
	}
}

// start takes the task from its current state to RUNNING.
func (w *worker) start(ctx context.Context, t *shoalv1.Task) {
	ctl, err := w.controller(t)
	if err != nil {
		w.report(shoalv1.TaskState_TASK_STATE_REJECTED, "rejected", func(s *shoalv1.TaskStatus) { s.Err = err.Error() })
		return
	}
	// A task the backend already runs (the agent restarted between starting
	// it and reporting RUNNING) is adopted, not started again.
	if st, err := ctl.Inspect(ctx); err == nil {
		switch st.State {
		case runtime.StateRunning:
			w.reportRunning(st)
			return
		case runtime.StateExited:
			w.reportExit(st)
			return
		}
	}
	// Not-yet-started tasks wait for the manager's current assignment set.
	select {
	case <-w.a.synced:
	case <-w.kick:
		return // run looks at the new assignment first
	case <-ctx.Done():
		return
	}
	if w.current() < shoalv1.TaskState_TASK_STATE_ACCEPTED {
		w.report(shoalv1.TaskState_TASK_STATE_ACCEPTED, "accepted", nil)
	}
	opCtx, done := w.opContext(ctx)
	defer done()
	if w.current() < shoalv1.TaskState_TASK_STATE_READY {
		w.report(shoalv1.TaskState_TASK_STATE_PREPARING, "preparing", nil)
		if err := ctl.Prepare(opCtx); err != nil {
			if opCtx.Err() != nil {
				return // stopping or removed: run decides
			}
			w.report(shoalv1.TaskState_TASK_STATE_REJECTED, "preparing failed", func(s *shoalv1.TaskStatus) { s.Err = err.Error() })
			return
		}
	}
	if !wantsStart(w.taskNow()) {
		w.report(shoalv1.TaskState_TASK_STATE_READY, "prepared; waiting for the restart delay", nil)
		return
	}
	w.report(shoalv1.TaskState_TASK_STATE_STARTING, "starting", nil)
	w.attached = true // Start attaches the task's cluster networks
	if err := w.timedStart(opCtx, ctl); err != nil {
		if opCtx.Err() != nil {
			return
		}
		w.report(shoalv1.TaskState_TASK_STATE_FAILED, "starting failed", func(s *shoalv1.TaskStatus) { s.Err = err.Error() })
		return
	}
	st, err := ctl.Inspect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		w.report(shoalv1.TaskState_TASK_STATE_FAILED, "inspect after start failed", func(s *shoalv1.TaskStatus) { s.Err = err.Error() })
		return
	}
	if st.State == runtime.StateExited {
		w.reportExit(st)
		return
	}
	w.reportRunning(st)
}

// timedStart starts the task in the backend, telling TaskStarted how long
// it took.
func (w *worker) timedStart(ctx context.Context, ctl runtime.Controller) error {
	start := w.a.cfg.Clock.Now()
	err := ctl.Start(ctx)
	if f := w.a.cfg.TaskStarted; f != nil {
		f(w.a.cfg.Clock.Now().Sub(start), err)
	}
	return err
}

func (w *worker) reportRunning(st runtime.Status) {
	w.report(shoalv1.TaskState_TASK_STATE_RUNNING, "started", func(s *shoalv1.TaskStatus) {
		s.Pid = uint32(max(st.Pid, 0))
		s.Addresses = st.Addresses
	})
}

func (w *worker) reportExit(st runtime.Status) {
	mod := func(s *shoalv1.TaskStatus) {
		s.ExitCode = int32(st.ExitCode)
		s.OomKilled = st.OOMKilled
		s.Pid = uint32(max(st.Pid, 0))
	}
	switch {
	case st.Unhealthy:
		msg := st.Message
		if msg == "" {
			msg = "unhealthy"
		}
		w.report(shoalv1.TaskState_TASK_STATE_FAILED, msg, func(s *shoalv1.TaskStatus) { mod(s); s.Err = "task: unhealthy: " + msg })
	case st.ExitCode == 0 && !st.OOMKilled:
		w.report(shoalv1.TaskState_TASK_STATE_COMPLETE, "finished", mod)
	default:
		errMsg := fmt.Sprintf("task: non-zero exit (%d)", st.ExitCode)
		if st.OOMKilled {
			errMsg += ": killed by the out-of-memory killer"
		}
		msg := st.Message
		if msg == "" {
			msg = "exited"
		}
		w.report(shoalv1.TaskState_TASK_STATE_FAILED, msg, func(s *shoalv1.TaskStatus) { mod(s); s.Err = errMsg })
	}
}

// waitExit waits for the running task to exit or for a change of its
// assignment; it reports true when run should look again at once.
func (w *worker) waitExit(ctx context.Context) bool {
	t, _ := w.snapshot()
	if w.waitC == nil {
		ctl, err := w.controller(t)
		if err != nil {
			w.report(shoalv1.TaskState_TASK_STATE_FAILED, "lost", func(s *shoalv1.TaskStatus) { s.Err = err.Error() })
			return true
		}
		ch := make(chan waitResult, 1)
		w.waitC = ch
		go func() {
			st, err := ctl.Wait(ctx)
			ch <- waitResult{st, err}
		}()
	}
	select {
	case r := <-w.waitC:
		w.waitC = nil
		switch {
		case ctx.Err() != nil:
		case r.err != nil && errors.Is(r.err, runtime.ErrNotFound):
			w.report(shoalv1.TaskState_TASK_STATE_FAILED, "lost", func(s *shoalv1.TaskStatus) { s.Err = "task: gone from the runtime: " + r.err.Error() })
		case r.err != nil:
			w.report(shoalv1.TaskState_TASK_STATE_FAILED, "wait failed", func(s *shoalv1.TaskStatus) { s.Err = r.err.Error() })
		default:
			w.reportExit(r.st)
		}
		return true
	case <-w.kick:
		return true // run looks at the new assignment; the Wait stays outstanding
	case <-ctx.Done():
		return true
	}
}

// teardown stops the task (with its grace period); with remove it also
// frees it in the backend and forgets its status.
func (w *worker) teardown(ctx context.Context, t *shoalv1.Task, remove bool) {
	cur := w.current()
	ctl, err := w.controller(t)
	if err != nil {
		if !terminal(cur) && !remove {
			w.report(shoalv1.TaskState_TASK_STATE_SHUTDOWN, "shutdown", nil)
		}
		return
	}
	spec, _ := SpecFromTask(t)
	grace := DefaultStopGrace
	if spec != nil {
		grace = spec.StopGrace
	}
	if err := ctl.Stop(ctx, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		w.a.log.Warn("stop task", "task", w.id, "err", err)
	}
	if w.waitC != nil {
		select {
		case <-w.waitC:
		case <-ctx.Done():
			return
		}
		w.waitC = nil
	}
	if !terminal(cur) {
		w.report(shoalv1.TaskState_TASK_STATE_SHUTDOWN, "shutdown", nil)
	}
	if remove {
		if err := ctl.Remove(ctx); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			w.a.log.Warn("remove task", "task", w.id, "err", err)
		}
	}
}

// reattach reconnects a running task this agent did not start (it
// re-adopted it after a restart) to its cluster networks. It waits for the
// manager's first assignment set (the networks; the session brought the
// gossip keys) and retries failures with backoff; false when the worker
// must look at a new assignment (or stop) first.
func (w *worker) reattach(ctx context.Context, t *shoalv1.Task) bool {
	ctl, err := w.controller(t)
	if err != nil {
		return true // waitExit reports it
	}
	r, ok := ctl.(runtime.NetworkReattacher)
	if !ok {
		w.attached = true
		return true
	}
	select {
	case <-w.a.synced:
	case <-w.kick:
		return false
	case <-ctx.Done():
		return false
	}
	for backoff := time.Second; ; backoff = min(2*backoff, maxReattachBackoff) {
		err := r.ReattachNetworks(ctx)
		if err == nil {
			w.attached = true
			return true
		}
		w.a.log.Warn("reattach cluster networks", "task", w.id, "err", err, "retry_in", backoff)
		if !w.a.sleepOr(ctx, backoff, w.kick) {
			return false
		}
	}
}

// maxReattachBackoff caps the wait between reattach attempts.
const maxReattachBackoff = 30 * time.Second
