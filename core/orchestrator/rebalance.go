package orchestrator

import (
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Moves asked by the rebalancer (core/rebalancer) are start-first
// replacements of one slot: the rebalancer sets rebalance_target on a
// running task; the orchestrator creates one replacement in the same slot
// pinned to that node (rebalance_from names the old task), keeps the old
// task until the replacement runs, then shuts the old one down through the
// slot repair in planService (keep the newest). A replacement that fails,
// or whose node is lost or drained before it runs, is shut down and the old
// task keeps serving; no second replacement is made for the same task.

// movingFirst reports whether nw is old's move replacement that does not
// run yet: both stay live until it does.
func movingFirst(old, nw *shoalv1.Task) bool {
	return nw.GetRebalanceFrom() == old.GetId() && old.GetRebalanceTarget() != "" &&
		nw.GetStatus().GetState() != stateRunning
}

// moveLost reports whether a not yet running move replacement can no
// longer start: its node is gone, DOWN or drained.
func moveLost(nw *shoalv1.Task, e *env) bool {
	if nw.GetRebalanceFrom() == "" || nw.GetNodeId() == "" || nw.GetStatus().GetState() == stateRunning {
		return false
	}
	n := e.nodes[nw.GetNodeId()]
	return nodeLost(n) || nodeDrained(n)
}

// wantsMove reports whether t asks to be moved and no replacement was made
// for this request yet (ts are its slot's tasks): none is live, and none
// was created since t was last written (the rebalancer marking it). A
// failed replacement is not retried; the rebalancer clears the mark and
// may set it again after its window, which is a new request.
func wantsMove(t *shoalv1.Task, ts []*shoalv1.Task) bool {
	if t.GetRebalanceTarget() == "" {
		return false
	}
	marked := t.GetMeta().GetUpdatedAt().AsTime()
	for _, o := range ts {
		if o.GetRebalanceFrom() == t.GetId() && (live(o) || !o.GetMeta().GetCreatedAt().AsTime().Before(marked)) {
			return false
		}
	}
	return true
}

// createMove plans t's replacement on its rebalance target.
func (o *Orchestrator) createMove(p *plan, svc *shoalv1.Service, t *shoalv1.Task, now time.Time) {
	o.create(p, svc, slotKey{slot: t.GetSlot()}, stateRunning, now)
	nw := p.creates[len(p.creates)-1]
	nw.NodeId = t.GetRebalanceTarget()
	nw.RebalanceFrom = t.GetId()
	nw.Status.Message = "created to move task " + t.GetId() + " (rebalance)"
}

// moveEvent reports whether a task change matters to a move: a task was
// asked to move, or a move replacement reached RUNNING (its old task can
// stop).
func moveEvent(t, old *shoalv1.Task) bool {
	if t.GetRebalanceTarget() != "" && old.GetRebalanceTarget() == "" {
		return true
	}
	s := t.GetStatus().GetState()
	return t.GetRebalanceFrom() != "" && s != old.GetStatus().GetState() && s == stateRunning
}
