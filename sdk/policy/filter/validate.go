package filter

import (
	"errors"
	"fmt"

	"github.com/shoal-project/shoal/sdk"
)

// ErrInvalidPlacement is returned (wrapped) by Validate.
var ErrInvalidPlacement = errors.New("invalid placement")

// Validate replays a scheduler's answer against the request, in order, and
// reports the first placement a correct scheduler could not have made: a
// wrong number of groups or tasks, an index out of range, or a node that is
// not ready, not active, lacks the kind, fails a constraint, lacks resources
// (counting earlier placements of the batch) or is at max replicas per node.
// Unschedulable (-1) is always allowed.
func Validate(req *sdk.ScheduleRequest, resp *sdk.ScheduleResponse) error {
	if len(resp.Groups) != len(req.Groups) {
		return fmt.Errorf("%w: %d group results for %d groups", ErrInvalidPlacement, len(resp.Groups), len(req.Groups))
	}
	c := NewCluster(req.Nodes)
	for gi := range req.Groups {
		g := &req.Groups[gi]
		res := &resp.Groups[gi]
		if len(res.Placements) != int(g.Count) {
			return fmt.Errorf("%w: group %d (service %s): %d placements for %d tasks", ErrInvalidPlacement, gi, g.ServiceID, len(res.Placements), g.Count)
		}
		cons, err := ParseConstraints(g.Constraints)
		if err != nil {
			for ti, p := range res.Placements {
				if p != sdk.Unschedulable {
					return fmt.Errorf("%w: group %d task %d placed despite %v", ErrInvalidPlacement, gi, ti, err)
				}
			}
			continue
		}
		// The static filters (constraints with their string compares among
		// them) cannot change within a group: each node is checked once.
		static := make([]Failure, len(req.Nodes))
		checked := make([]bool, len(req.Nodes))
		svc := c.ServiceCounts(g.ServiceID)
		for ti, p := range res.Placements {
			if p == sdk.Unschedulable {
				continue
			}
			if p < 0 || int(p) >= len(req.Nodes) {
				return fmt.Errorf("%w: group %d task %d: node index %d out of range [0,%d)", ErrInvalidPlacement, gi, ti, p, len(req.Nodes))
			}
			i := int(p)
			if !checked[i] {
				static[i], checked[i] = c.Static(i, g, cons), true
			}
			f := static[i]
			if f == FailNone {
				f = c.Fits(i, g, svc)
			}
			if f != FailNone {
				return fmt.Errorf("%w: group %d task %d on node %d (%s): %s", ErrInvalidPlacement, gi, ti, p, req.Nodes[p].ID, f)
			}
			c.placeIn(i, g, svc)
		}
	}
	return nil
}
