package orchestrator

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

const (
	stateNew      = shoalv1.TaskState_TASK_STATE_NEW
	stateAssigned = shoalv1.TaskState_TASK_STATE_ASSIGNED
	stateReady    = shoalv1.TaskState_TASK_STATE_READY
	stateRunning  = shoalv1.TaskState_TASK_STATE_RUNNING
	stateComplete = shoalv1.TaskState_TASK_STATE_COMPLETE
	stateShutdown = shoalv1.TaskState_TASK_STATE_SHUTDOWN
)

// live reports whether t still occupies its slot: its desired state is at
// most RUNNING (READY while a restart delay runs).
func live(t *shoalv1.Task) bool { return t.GetDesiredState() <= stateRunning }

// terminal reports whether an observed state is final.
func terminal(s shoalv1.TaskState) bool { return s >= stateComplete }

// nodeLost reports whether a task's node is gone or DOWN: its tasks will
// never report again.
func nodeLost(n *shoalv1.Node) bool {
	return n == nil || n.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_DOWN
}

// nodeUnavailable reports whether n's tasks must move: it is gone, DOWN or
// drained. It is all a replicated service's plan reads of a node.
func nodeUnavailable(n *shoalv1.Node) bool { return nodeLost(n) || nodeDrained(n) }

func nodeDrained(n *shoalv1.Node) bool {
	return n.GetSpec().GetAvailability() == shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN
}

// stopped reports whether t no longer runs anywhere (or never did), so it
// may be deleted once it is no longer live.
func stopped(t *shoalv1.Task, nodes map[string]*shoalv1.Node) bool {
	s := t.GetStatus().GetState()
	if terminal(s) || s < stateAssigned {
		return true
	}
	return t.GetNodeId() != "" && nodeLost(nodes[t.GetNodeId()])
}

// sortTasks orders tasks oldest first (creation time, then ID).
func sortTasks(ts []*shoalv1.Task) {
	slices.SortFunc(ts, func(a, b *shoalv1.Task) int {
		if c := a.GetMeta().GetCreatedAt().AsTime().Compare(b.GetMeta().GetCreatedAt().AsTime()); c != 0 {
			return c
		}
		return cmp.Compare(a.GetId(), b.GetId())
	})
}

// eligible reports whether a global service should have a task on n:
// ready, not drained (not paused either when forCreate), kind supported and
// constraints satisfied.
func eligible(n *shoalv1.Node, svc *shoalv1.Service, forCreate bool) bool {
	if n == nil || n.GetStatus().GetState() != shoalv1.NodeState_NODE_STATE_READY {
		return false
	}
	switch n.GetSpec().GetAvailability() {
	case shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN:
		return false
	case shoalv1.NodeAvailability_NODE_AVAILABILITY_PAUSE:
		if forCreate {
			return false
		}
	}
	spec := svc.GetSpec().GetTask()
	if k := taskspec.Kind(spec); k != "" && !slices.Contains(n.GetDescription().GetKinds(), string(k)) {
		return false
	}
	cons, err := filter.ParseConstraints(spec.GetPlacement().GetConstraints())
	if err != nil {
		return false
	}
	if len(cons) == 0 {
		return true
	}
	sn := &sdk.Node{ID: n.GetId(), Hostname: n.GetDescription().GetHostname(), Labels: n.GetSpec().GetLabels()}
	if n.GetRole() == shoalv1.NodeRole_NODE_ROLE_MANAGER {
		sn.Role = sdk.RoleManager
	}
	return filter.MatchAll(cons, sn)
}

// restartDelay returns the delay of a restart policy (DefaultRestartDelay
// when unset).
func restartDelay(rp *shoalv1.RestartPolicy) time.Duration {
	if rp.GetDelay() == nil {
		return DefaultRestartDelay
	}
	return max(rp.GetDelay().AsDuration(), 0)
}

// nodeChanged reports whether a node update matters to the orchestrator
// (heartbeats and descriptions of resources do not).
func nodeChanged(old, cur *shoalv1.Node) bool {
	if old == nil || cur == nil {
		return true
	}
	return old.GetStatus().GetState() != cur.GetStatus().GetState() ||
		old.GetSpec().GetAvailability() != cur.GetSpec().GetAvailability() ||
		old.GetRole() != cur.GetRole() ||
		old.GetDescription().GetHostname() != cur.GetDescription().GetHostname() ||
		!slices.Equal(old.GetDescription().GetKinds(), cur.GetDescription().GetKinds()) ||
		!maps.Equal(old.GetSpec().GetLabels(), cur.GetSpec().GetLabels())
}
