package agent

import (
	"log/slog"
	"sync"

	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// forward reports whether a task's status may move from cur to next: a
// higher state, or the same state with a changed message or error.
func forward(cur, next *shoalv1.TaskStatus) bool {
	if next == nil {
		return false
	}
	if cur.GetState() != next.GetState() {
		return next.GetState() > cur.GetState()
	}
	return cur.GetMessage() != next.GetMessage() || cur.GetErr() != next.GetErr()
}

// reporter holds the last status of every task and the reports not yet sent.
type reporter struct {
	db  *stateDB
	log *slog.Logger

	mu      sync.Mutex
	last    map[string]*shoalv1.TaskStatus
	pending map[string]*shoalv1.TaskStatus
}

func newReporter(db *stateDB, last map[string]*shoalv1.TaskStatus, log *slog.Logger) *reporter {
	return &reporter{db: db, log: log, last: last, pending: make(map[string]*shoalv1.TaskStatus)}
}

// state returns the task's last status (nil if none).
func (r *reporter) state(id string) *shoalv1.TaskStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[id]
}

// report records st for the task if it moves it forward and queues it.
func (r *reporter) report(id string, st *shoalv1.TaskStatus) bool {
	r.mu.Lock()
	if !forward(r.last[id], st) {
		r.mu.Unlock()
		return false
	}
	r.last[id] = st
	r.pending[id] = st
	r.mu.Unlock()
	if err := r.db.putStatus(id, st); err != nil {
		r.log.Warn("persist task status", "task", id, "err", err)
	}
	return true
}

// take returns the queued reports and clears the queue.
func (r *reporter) take() []*shoalv1.TaskStatusUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return nil
	}
	out := make([]*shoalv1.TaskStatusUpdate, 0, len(r.pending))
	for id, st := range r.pending {
		out = append(out, &shoalv1.TaskStatusUpdate{TaskId: id, Status: proto.CloneOf(st)})
	}
	clear(r.pending)
	return out
}

// requeue puts back reports that could not be sent, unless newer ones are queued.
func (r *reporter) requeue(ups []*shoalv1.TaskStatusUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range ups {
		if _, newer := r.pending[u.GetTaskId()]; !newer {
			if _, known := r.last[u.GetTaskId()]; known {
				r.pending[u.GetTaskId()] = u.GetStatus()
			}
		}
	}
}

// resendAll queues the last status of every task, for a new session (the
// leader may have lost reports that were queued on an earlier one).
func (r *reporter) resendAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, st := range r.last {
		r.pending[id] = st
	}
}

// forget drops a task that is no longer assigned.
func (r *reporter) forget(id string) {
	r.mu.Lock()
	delete(r.last, id)
	delete(r.pending, id)
	r.mu.Unlock()
	if err := r.db.deleteStatus(id); err != nil {
		r.log.Warn("forget task status", "task", id, "err", err)
	}
}
