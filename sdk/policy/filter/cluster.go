package filter

import (
	"fmt"

	"github.com/shoal-project/shoal/sdk"
)

// Failure names the first filter a node fails for a task; FailNone means the
// task may go there.
type Failure uint8

const (
	FailNone Failure = iota
	FailNotReady
	FailDrained
	FailPaused
	FailKind
	FailConstraint
	FailCPU
	FailMemory
	FailMaxPerNode
)

func (f Failure) String() string {
	switch f {
	case FailNone:
		return "fits"
	case FailNotReady:
		return "node not ready"
	case FailDrained:
		return "node drained"
	case FailPaused:
		return "node paused"
	case FailKind:
		return "node cannot run this kind"
	case FailConstraint:
		return "constraints not satisfied"
	case FailCPU:
		return "not enough cpu"
	case FailMemory:
		return "not enough memory"
	case FailMaxPerNode:
		return "max replicas per node reached"
	}
	return "unknown"
}

// Cluster is the mutable view of the node table during one batch: the
// resources and task counts left after the placements made so far.
type Cluster struct {
	Nodes   []sdk.Node
	FreeCPU []int64
	FreeMem []int64
	Tasks   []uint32
	svc     map[string][]uint32
	// static caches StaticFailures by kind and constraints.
	static map[string]*staticResults
}

// ScheduleEach places every group of req in order with place, over one
// Cluster, so that placements of earlier groups count against later ones.
func ScheduleEach(req *sdk.ScheduleRequest, place func(*Cluster, *sdk.TaskGroup) sdk.GroupResult) *sdk.ScheduleResponse {
	c := NewCluster(req.Nodes)
	resp := &sdk.ScheduleResponse{Groups: make([]sdk.GroupResult, len(req.Groups))}
	for gi := range req.Groups {
		resp.Groups[gi] = place(c, &req.Groups[gi])
	}
	return resp
}

// NewCluster starts a batch over the node table (which it does not modify).
func NewCluster(nodes []sdk.Node) *Cluster {
	c := &Cluster{
		Nodes:   nodes,
		FreeCPU: make([]int64, len(nodes)),
		FreeMem: make([]int64, len(nodes)),
		Tasks:   make([]uint32, len(nodes)),
		svc:     make(map[string][]uint32),
	}
	for i := range nodes {
		c.FreeCPU[i] = nodes[i].FreeNanoCPUs
		c.FreeMem[i] = nodes[i].FreeMemoryBytes
		c.Tasks[i] = nodes[i].TaskCount
	}
	return c
}

// ServiceCounts returns the per-node number of tasks of the service,
// including placements made in this batch. The slice is live: Place updates
// it.
func (c *Cluster) ServiceCounts(serviceID string) []uint32 {
	if s, ok := c.svc[serviceID]; ok {
		return s
	}
	s := make([]uint32, len(c.Nodes))
	for i := range c.Nodes {
		s[i] = c.Nodes[i].ServiceTasks[serviceID]
	}
	c.svc[serviceID] = s
	return s
}

// Place records one task of g on node i.
func (c *Cluster) Place(i int, g *sdk.TaskGroup) { c.placeIn(i, g, c.ServiceCounts(g.ServiceID)) }

// placeIn is Place with svc = ServiceCounts(g.ServiceID) looked up once
// per group rather than once per task.
func (c *Cluster) placeIn(i int, g *sdk.TaskGroup, svc []uint32) {
	c.FreeCPU[i] -= g.NanoCPUs
	c.FreeMem[i] -= g.MemoryBytes
	c.Tasks[i]++
	svc[i]++
}

// Static checks the filters that placements in the batch cannot change:
// readiness, availability, kind and constraints.
func (c *Cluster) Static(i int, g *sdk.TaskGroup, cons []Constraint) Failure {
	return c.staticOf(i, g.Kind, cons)
}

func (c *Cluster) staticOf(i int, kind string, cons []Constraint) Failure {
	n := &c.Nodes[i]
	switch {
	case !n.Ready:
		return FailNotReady
	case n.Availability == sdk.AvailabilityDrain:
		return FailDrained
	case n.Availability != sdk.AvailabilityActive:
		return FailPaused
	case !supportsKind(n, kind):
		return FailKind
	case !MatchAll(cons, n):
		return FailConstraint
	}
	return FailNone
}

// Fits checks the filters that placements change: cpu, memory and max
// replicas per node. svc is ServiceCounts(g.ServiceID).
func (c *Cluster) Fits(i int, g *sdk.TaskGroup, svc []uint32) Failure {
	switch {
	case g.NanoCPUs > 0 && c.FreeCPU[i] < g.NanoCPUs:
		return FailCPU
	case g.MemoryBytes > 0 && c.FreeMem[i] < g.MemoryBytes:
		return FailMemory
	case g.MaxReplicasPerNode > 0 && svc[i] >= g.MaxReplicasPerNode:
		return FailMaxPerNode
	}
	return FailNone
}

// Check is Static then Fits.
func (c *Cluster) Check(i int, g *sdk.TaskGroup, cons []Constraint) Failure {
	if f := c.Static(i, g, cons); f != FailNone {
		return f
	}
	return c.Fits(i, g, c.ServiceCounts(g.ServiceID))
}

// Explain counts, for every node, the first filter it fails for one more
// task of g in the current state.
func (c *Cluster) Explain(g *sdk.TaskGroup, cons []Constraint) sdk.Explanation {
	var e sdk.Explanation
	for i := range c.Nodes {
		switch c.Check(i, g, cons) {
		case FailNotReady:
			e.NotReady++
		case FailDrained:
			e.Drained++
		case FailPaused:
			e.Paused++
		case FailKind:
			e.KindUnsupported++
		case FailConstraint:
			e.ConstraintMismatch++
		case FailCPU:
			e.LacksCPU++
		case FailMemory:
			e.LacksMemory++
		case FailMaxPerNode:
			e.MaxPerNode++
		}
	}
	return e
}

func supportsKind(n *sdk.Node, kind string) bool {
	if kind == "" {
		return true
	}
	for _, k := range n.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// GroupError checks a group for malformation a scheduler cannot work
// around; it returns the reason and a detail, or ReasonNone.
func GroupError(g *sdk.TaskGroup) (sdk.Reason, string, []Constraint) {
	if len(g.TaskIDs) != 0 && len(g.TaskIDs) != int(g.Count) {
		return sdk.ReasonInvalidGroup, fmt.Sprintf("%d task IDs for %d tasks", len(g.TaskIDs), g.Count), nil
	}
	cons, err := ParseConstraints(g.Constraints)
	if err != nil {
		return sdk.ReasonInvalidConstraint, err.Error(), nil
	}
	for _, p := range g.Preferences {
		if _, err := PreferenceLabel(p); err != nil {
			return sdk.ReasonInvalidConstraint, err.Error(), nil
		}
	}
	return sdk.ReasonNone, "", cons
}

// NoneFit marks res's placements from the from-th on unschedulable: no
// node fits one more task of g (ReasonNoSuitableNode, with Explain's
// counts). For a policy that placed what it could and ran out of nodes.
func (c *Cluster) NoneFit(res *sdk.GroupResult, from int, g *sdk.TaskGroup, cons []Constraint) {
	for k := from; k < len(res.Placements); k++ {
		res.Placements[k] = sdk.Unschedulable
	}
	res.Reason = sdk.ReasonNoSuitableNode
	res.Explanation = c.Explain(g, cons)
}

// Unschedulable returns a result with every task of g unschedulable.
func Unschedulable(g *sdk.TaskGroup, reason sdk.Reason, detail string, e sdk.Explanation) sdk.GroupResult {
	p := make([]int32, g.Count)
	for i := range p {
		p[i] = sdk.Unschedulable
	}
	return sdk.GroupResult{Placements: p, Reason: reason, Detail: detail, Explanation: e}
}
