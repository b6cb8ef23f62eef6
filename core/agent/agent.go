package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/shoal-project/shoal/core/auth"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime"
)

// ErrAlreadyRunning is returned by a second concurrent Run.
var ErrAlreadyRunning = errors.New("agent: already running")

// ErrNodeRemoved is returned by Run once the managers said this node was
// removed from the cluster (shoal node rm) and the agent removed its tasks.
var ErrNodeRemoved = auth.ErrNodeRemoved

// Agent is one node's worker agent.
type Agent struct {
	cfg Config
	log *slog.Logger

	runMu   sync.Mutex
	running bool

	// Set up by Run.
	db       *stateDB
	rep      *reporter
	assignCh chan *shoalv1.AssignmentsMessage
	synced   chan struct{} // closed when the first COMPLETE set was applied
	wg       sync.WaitGroup

	// workers is owned by the assignment loop; the mutex lets log
	// subscriptions and forgetWorker look at it.
	mu      sync.Mutex
	workers map[string]*worker

	// files are the secrets and configs of the node's tasks (memory only).
	files fileCache

	// managers is the list the agent tries, learned from sessions.
	mgrMu    sync.Mutex
	managers []string
}

// managerAt returns the i-th known manager address (round robin).
func (a *Agent) managerAt(i int) string {
	a.mgrMu.Lock()
	defer a.mgrMu.Unlock()
	return a.managers[i%len(a.managers)]
}

// learnManagers replaces the known managers with the list a session sent,
// so the agent can fail over to managers that joined after it did.
func (a *Agent) learnManagers(addrs []string) {
	if len(addrs) == 0 {
		return
	}
	a.mgrMu.Lock()
	changed := !slices.Equal(a.managers, addrs)
	if changed {
		a.managers = append([]string(nil), addrs...)
	}
	a.mgrMu.Unlock()
	if changed && a.cfg.OnManagers != nil {
		a.cfg.OnManagers(append([]string(nil), addrs...))
	}
}

// New returns an agent. It does not connect until Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), managers: append([]string(nil), cfg.Managers...)}, nil
}

// Run connects to the managers and runs the node's tasks until ctx ends.
// Tasks are left running when it returns. It returns nil when ctx ends, or
// an error when the state file cannot be used.
func (a *Agent) Run(ctx context.Context) error {
	a.runMu.Lock()
	if a.running {
		a.runMu.Unlock()
		return ErrAlreadyRunning
	}
	a.running = true
	a.runMu.Unlock()
	defer func() {
		a.runMu.Lock()
		a.running = false
		a.runMu.Unlock()
	}()

	db, err := openState(a.cfg.StateDir)
	if err != nil {
		return err
	}
	defer db.close()
	tasks, statuses, err := db.load()
	if err != nil {
		return err
	}
	a.db = db
	a.rep = newReporter(db, statuses, a.log)
	a.assignCh = make(chan *shoalv1.AssignmentsMessage)
	a.synced = make(chan struct{})
	a.workers = make(map[string]*worker)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ids := make([]string, 0, len(tasks))
	for id := range tasks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// Re-adopt what an earlier agent left: workers for the stored
	// assignments attach to their tasks in the backend; tasks that were
	// not started yet wait for the manager's assignment set.
	a.mu.Lock()
	for _, id := range ids {
		w := newWorker(a, tasks[id])
		a.workers[id] = w
		w.set(ctx, tasks[id])
	}
	a.mu.Unlock()
	if len(ids) > 0 {
		a.log.Info("re-adopting stored assignments", "tasks", len(ids))
	}

	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		a.assignmentLoop(ctx)
	}()
	removed := a.connectLoop(ctx)
	if removed {
		a.removeAll(ctx)
	}
	cancel()
	<-loopDone
	a.wg.Wait()
	if removed {
		return ErrNodeRemoved
	}
	return nil
}

// removeAll stops and removes every task of the node, known or orphaned,
// and forgets them (the node was removed from the cluster, as a swarm node
// leaving: nothing of the cluster's keeps running on it).
func (a *Agent) removeAll(ctx context.Context) {
	a.log.Warn("this node was removed from the cluster: removing all its tasks")
	a.apply(ctx, &shoalv1.AssignmentsMessage{Type: shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_COMPLETE})
	a.wg.Wait()
	a.removeOrphans(ctx, &shoalv1.AssignmentsMessage{})
	a.wg.Wait()
}

// assignmentLoop applies assignment messages, one at a time.
func (a *Agent) assignmentLoop(ctx context.Context) {
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-a.assignCh:
			complete := m.GetType() == shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_COMPLETE
			a.apply(ctx, m)
			if complete && first {
				first = false
				a.removeOrphans(ctx, m)
				close(a.synced)
			}
		}
	}
}

// apply applies one assignment message to the workers and the state file.
func (a *Agent) apply(ctx context.Context, m *shoalv1.AssignmentsMessage) {
	complete := m.GetType() == shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_COMPLETE
	if a.files.set(m) { // before the workers: their tasks' files come with m
		secs, cfgs := a.files.ids()
		a.log.Info("the node's tasks' secrets and configs changed (held in memory)", "secrets", secs, "configs", cfgs)
	}
	if a.cfg.Network != nil && (complete || len(m.GetNetworks()) > 0) {
		// Before the workers: their tasks' attachments name these networks.
		if err := a.cfg.Network.SetNetworks(ctx, m.GetNetworks(), m.GetIngressAddress()); err != nil {
			a.log.Warn("network assignments", "err", err)
		}
	}
	var removes []string
	a.mu.Lock()
	if complete {
		in := make(map[string]bool, len(m.GetUpdates()))
		for _, t := range m.GetUpdates() {
			in[t.GetId()] = true
		}
		for id := range a.workers {
			if !in[id] {
				removes = append(removes, id)
			}
		}
		slices.Sort(removes)
	} else {
		removes = m.GetRemoves()
	}
	for _, t := range m.GetUpdates() {
		if t.GetNodeId() != "" && t.GetNodeId() != a.cfg.NodeID {
			a.log.Warn("assignment for another node ignored", "task", t.GetId(), "task_node", t.GetNodeId())
			continue
		}
		w := a.workers[t.GetId()]
		if w == nil {
			w = newWorker(a, t)
			a.workers[t.GetId()] = w
		}
		w.set(ctx, t)
	}
	for _, id := range removes {
		if w := a.workers[id]; w != nil {
			w.remove(ctx)
		}
	}
	a.mu.Unlock()
	if err := a.db.apply(complete, m.GetUpdates(), removes); err != nil {
		a.log.Warn("persist assignments", "err", err)
	}
	a.log.Debug("assignments applied", "type", m.GetType(), "seq", m.GetSequence(), "updates", len(m.GetUpdates()), "removes", len(removes))
}

// forgetWorker drops a removed task's worker and status.
func (a *Agent) forgetWorker(w *worker) {
	a.mu.Lock()
	if a.workers[w.id] == w {
		delete(a.workers, w.id)
	}
	a.mu.Unlock()
	a.rep.forget(w.id)
}

// removeOrphans stops and removes the backend's tasks that are not in the
// first complete assignment set.
func (a *Agent) removeOrphans(ctx context.Context, m *shoalv1.AssignmentsMessage) {
	ids, err := a.cfg.Backend.List(ctx)
	if err != nil {
		a.log.Warn("list backend tasks for orphan removal", "err", err)
		return
	}
	in := make(map[string]bool, len(m.GetUpdates()))
	for _, t := range m.GetUpdates() {
		in[t.GetId()] = true
	}
	for _, id := range ids {
		if in[id] {
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.removeOrphan(ctx, id); err != nil {
				a.log.Warn("remove orphan task", "task", id, "err", err)
			} else {
				a.log.Info("removed orphan task", "task", id)
			}
		}()
	}
}

func (a *Agent) removeOrphan(ctx context.Context, id string) error {
	ctl, err := a.cfg.Backend.Controller(&runtime.TaskSpec{TaskID: id})
	if err != nil {
		return err
	}
	if err := ctl.Stop(ctx, DefaultStopGrace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("stop: %w", err)
	}
	if err := ctl.Remove(ctx); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

// task returns the current assignment of a task, or nil.
func (a *Agent) task(id string) *shoalv1.Task {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.workers[id]
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.task
}

// runningTasks lists the tasks last reported RUNNING.
func (a *Agent) runningTasks() []string {
	a.mu.Lock()
	ids := make([]string, 0, len(a.workers))
	for id := range a.workers {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	var out []string
	for _, id := range ids {
		if a.rep.state(id).GetState() == shoalv1.TaskState_TASK_STATE_RUNNING {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
