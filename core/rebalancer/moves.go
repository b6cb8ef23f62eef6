package rebalancer

import (
	"strings"
	"time"

	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// Reasons a proposed move is not applied (the metric's reason label).
const (
	ReasonUnknownTask   = "unknown_task"   // not a live task of the service
	ReasonDuplicate     = "duplicate"      // the same task twice in one answer
	ReasonNotRunning    = "not_running"    // the task does not run (yet, or any more)
	ReasonMoving        = "moving"         // the task is being moved already
	ReasonMovedRecently = "moved_recently" // its slot was moved within the window
	ReasonUnknownNode   = "unknown_node"   // the target is not in the node table
	ReasonSameNode      = "same_node"      // the target is the task's own node
	ReasonNoBetterNode  = "no_better_node" // "any better node" found none
	ReasonNotReady      = "node_not_ready"
	ReasonNotActive     = "node_not_active" // drained or paused
	ReasonKind          = "kind"            // the target cannot run the task's kind
	ReasonConstraint    = "constraint"
	ReasonCPU           = "cpu"
	ReasonMemory        = "memory"
	ReasonMaxPerNode    = "max_per_node"
	ReasonHostPort      = "host_port" // the target already binds the service's host-mode port
	ReasonOverLimit     = "over_limit"
)

// State is what a pass knows of one service and the cluster.
type State struct {
	Service *shoalv1.Service
	// Tasks are all the service's tasks.
	Tasks []*shoalv1.Task
	Nodes []*shoalv1.Node
	// Holding are the tasks of every service that hold node resources
	// (ASSIGNED to RUNNING): they make the node table.
	Holding []*shoalv1.Task
	Now     time.Time
	Config  Config
}

// Move is one proposed move and the host's verdict.
type Move struct {
	TaskID string
	Slot   uint64
	From   string
	// To is the target node: the plugin's, or the one the host chose for
	// "any better node" ("" if it found none).
	To string
	// Rejected is the reason the move is not applied; "" = accepted.
	Rejected string
}

// liveTasks are the service's tasks that hold a slot and have not ended.
func liveTasks(s *State) []*shoalv1.Task {
	var out []*shoalv1.Task
	for _, t := range s.Tasks {
		if t.GetDesiredState() <= shoalv1.TaskState_TASK_STATE_RUNNING && t.GetStatus().GetState() < shoalv1.TaskState_TASK_STATE_COMPLETE {
			out = append(out, t)
		}
	}
	return out
}

// Request builds what the plugin is asked; nil when the service has no
// live task.
func Request(s *State) *sdk.RebalanceRequest {
	live := liveTasks(s)
	if len(live) == 0 {
		return nil
	}
	rows, _ := scheduler.NodeTable(s.Nodes, s.Holding)
	req := &sdk.RebalanceRequest{Nodes: rows, Group: scheduler.ServiceGroup(live), MaxMoves: uint32(max(s.Config.MaxMoves, 0))}
	for _, t := range live {
		req.Tasks = append(req.Tasks, sdk.RebalanceTask{ID: t.GetId(), Slot: t.GetSlot(), NodeID: t.GetNodeId(), State: StateName(t.GetStatus().GetState())})
	}
	return req
}

// StateName is a task state as the ABI names it: "running", "pending", ...
func StateName(st shoalv1.TaskState) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "TASK_STATE_"))
}

// Validate checks every move of resp against s (req is Request(s)), in
// order: a move counts against the targets of the moves after it, and at
// most Config.MaxMoves are accepted. Only moves with Rejected == "" may be
// applied.
func Validate(s *State, req *sdk.RebalanceRequest, resp *sdk.RebalanceResponse) []Move {
	attempted := lastAttempts(s.Tasks)
	live := make(map[string]*shoalv1.Task)
	hostMode := false
	for _, t := range liveTasks(s) {
		live[t.GetId()] = t
		hostMode = hostMode || taskspec.HasMode(t.GetEndpoint().GetPorts(), taskspec.ModeHost)
	}
	index := make(map[string]int, len(req.Nodes))
	for i := range req.Nodes {
		index[req.Nodes[i].ID] = i
	}
	g := &req.Group
	cons, _ := filter.ParseConstraints(g.Constraints) // malformed constraints match nothing: every move fails them
	c := filter.NewCluster(req.Nodes)
	svc := c.ServiceCounts(g.ServiceID)
	seen := make(map[string]bool)
	accepted := 0
	out := make([]Move, 0, len(resp.Moves))
	for _, pm := range resp.Moves {
		m := Move{TaskID: pm.TaskID, To: pm.TargetNodeID}
		t := live[pm.TaskID]
		if t != nil {
			m.Slot, m.From = t.GetSlot(), t.GetNodeId()
		}
		switch {
		case t == nil:
			m.Rejected = ReasonUnknownTask
		case seen[pm.TaskID]:
			m.Rejected = ReasonDuplicate
		case t.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_RUNNING || t.GetDesiredState() != shoalv1.TaskState_TASK_STATE_RUNNING:
			m.Rejected = ReasonNotRunning
		case t.GetRebalanceTarget() != "":
			m.Rejected = ReasonMoving
		case movedRecently(t, s.Now, s.Config.Window) || s.Now.Before(attempted[t.GetId()].Add(s.Config.Window)):
			m.Rejected = ReasonMovedRecently
		}
		seen[pm.TaskID] = true
		if m.Rejected == "" && m.To == "" {
			m.To = betterNode(c, g, cons, svc, index, m.From)
			if m.To == "" {
				m.Rejected = ReasonNoBetterNode
			}
		}
		if m.Rejected == "" {
			i, ok := index[m.To]
			switch {
			case !ok:
				m.Rejected = ReasonUnknownNode
			case m.To == m.From:
				m.Rejected = ReasonSameNode
			default:
				m.Rejected = reasonOf(c.Check(i, g, cons), hostMode)
			}
			if m.Rejected == "" && accepted >= s.Config.MaxMoves {
				m.Rejected = ReasonOverLimit
			}
			if m.Rejected == "" {
				accepted++
				c.Place(i, g) // the old task keeps its node until the new one runs
			}
		}
		out = append(out, m)
	}
	return out
}

// movedRecently reports whether t was created by a move less than window
// ago.
func movedRecently(t *shoalv1.Task, now time.Time, window time.Duration) bool {
	return t.GetRebalanceFrom() != "" && now.Before(t.GetMeta().GetCreatedAt().AsTime().Add(window))
}

// lastAttempts maps a task to when the newest replacement made to move it
// was created: a move that failed counts against the window too.
func lastAttempts(tasks []*shoalv1.Task) map[string]time.Time {
	out := make(map[string]time.Time)
	for _, t := range tasks {
		if f := t.GetRebalanceFrom(); f != "" {
			if at := t.GetMeta().GetCreatedAt().AsTime(); at.After(out[f]) {
				out[f] = at
			}
		}
	}
	return out
}

// staleTargets are the live tasks still marked to move whose replacement
// ended without taking over (it failed, or its node was lost): the mark is
// cleared so the task may move again once the window has passed.
func staleTargets(s *State) []*shoalv1.Task {
	ended := make(map[string]bool)
	for _, t := range s.Tasks {
		if f := t.GetRebalanceFrom(); f != "" && t.GetDesiredState() > shoalv1.TaskState_TASK_STATE_RUNNING {
			ended[f] = true
		}
	}
	var out []*shoalv1.Task
	for _, t := range liveTasks(s) {
		if t.GetRebalanceTarget() != "" && ended[t.GetId()] {
			out = append(out, t)
		}
	}
	return out
}

// betterNode is the node that may take one more task of the service and has
// the fewest of them, if that is at least two fewer than from has (a move
// to it evens the service); "" if there is none. Ties go to the first node.
func betterNode(c *filter.Cluster, g *sdk.TaskGroup, cons []filter.Constraint, svc []uint32, index map[string]int, from string) string {
	fi, ok := index[from]
	if !ok {
		return ""
	}
	best := -1
	for i := range c.Nodes {
		if i != fi && c.Check(i, g, cons) == filter.FailNone && (best < 0 || svc[i] < svc[best]) {
			best = i
		}
	}
	if best < 0 || svc[best]+1 >= svc[fi] {
		return ""
	}
	return c.Nodes[best].ID
}

func reasonOf(f filter.Failure, hostMode bool) string {
	switch f {
	case filter.FailNone:
		return ""
	case filter.FailNotReady:
		return ReasonNotReady
	case filter.FailDrained, filter.FailPaused:
		return ReasonNotActive
	case filter.FailKind:
		return ReasonKind
	case filter.FailConstraint:
		return ReasonConstraint
	case filter.FailCPU:
		return ReasonCPU
	case filter.FailMemory:
		return ReasonMemory
	case filter.FailMaxPerNode:
		if hostMode {
			return ReasonHostPort
		}
		return ReasonMaxPerNode
	}
	return "unknown"
}
