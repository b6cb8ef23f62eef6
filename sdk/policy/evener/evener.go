// Package evener is the reference rebalancing policy: it evens one
// service's tasks across the nodes that may run them, moving running tasks
// from the most loaded node to the least loaded one until the counts
// differ by at most one (or the host's move budget is spent).
//
// It is deterministic: ties go to the node listed first in the request and
// to the task with the highest slot, so a dry run shows the moves a live
// pass makes on the same state.
package evener

import (
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// Rebalance proposes the moves that even req's service across the eligible
// nodes. Tasks on nodes that cannot run the service (down, drained,
// failing a constraint) are left to the orchestrator, which replaces them.
func Rebalance(req *sdk.RebalanceRequest) *sdk.RebalanceResponse {
	resp := &sdk.RebalanceResponse{}
	g := &req.Group
	if reason, detail, _ := filter.GroupError(g); reason != sdk.ReasonNone {
		resp.Error = "service cannot be placed: " + detail
		return resp
	}
	cons, _ := filter.ParseConstraints(g.Constraints)
	c := filter.NewCluster(req.Nodes)
	index := make(map[string]int, len(req.Nodes))
	var eligible []int
	for i := range req.Nodes {
		index[req.Nodes[i].ID] = i
		if c.Static(i, g, cons) == filter.FailNone {
			eligible = append(eligible, i)
		}
	}
	if len(eligible) < 2 {
		return resp
	}
	// movable[i] holds node i's running tasks, lowest slot first: the
	// last one moves first.
	count := make([]int, len(req.Nodes))
	movable := make([][]string, len(req.Nodes))
	for _, t := range req.Tasks {
		i, ok := index[t.NodeID]
		if !ok {
			continue
		}
		count[i]++
		if t.State == "running" {
			movable[i] = append(movable[i], t.ID)
		}
	}
	budget := int(req.MaxMoves)
	if budget == 0 {
		budget = len(req.Tasks)
	}
	svc := c.ServiceCounts(g.ServiceID)
	for len(resp.Moves) < budget {
		from, to := -1, -1
		for _, i := range eligible {
			if len(movable[i]) > 0 && (from < 0 || count[i] > count[from]) {
				from = i
			}
			if c.Fits(i, g, svc) == filter.FailNone && (to < 0 || count[i] < count[to]) {
				to = i
			}
		}
		if from < 0 || to < 0 || count[from]-count[to] <= 1 {
			break
		}
		n := len(movable[from])
		resp.Moves = append(resp.Moves, sdk.Move{TaskID: movable[from][n-1], TargetNodeID: req.Nodes[to].ID})
		movable[from] = movable[from][:n-1]
		count[from]--
		count[to]++
		c.Place(to, g)
	}
	return resp
}
