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
	c := newLazyCluster(req.Nodes)
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
		svc := c.serviceCounts(g.ServiceID)
		for ti, p := range res.Placements {
			if p == sdk.Unschedulable {
				continue
			}
			if p < 0 || int(p) >= len(req.Nodes) {
				return fmt.Errorf("%w: group %d task %d: node index %d out of range [0,%d)", ErrInvalidPlacement, gi, ti, p, len(req.Nodes))
			}
			i := int(p)
			if !c.loaded[i] || !svc.loaded[i] {
				c.load(i, svc)
			}
			if !checked[i] {
				static[i], checked[i] = c.Static(i, g, cons), true
			}
			f := static[i]
			if f == FailNone {
				f = c.Fits(i, g, svc.counts)
			}
			if f != FailNone {
				return fmt.Errorf("%w: group %d task %d on node %d (%s): %s", ErrInvalidPlacement, gi, ti, p, req.Nodes[p].ID, f)
			}
			c.placeIn(i, g, svc.counts)
		}
	}
	return nil
}

// lazyCluster is a Cluster whose rows are read from the table when first
// placed on: replaying a one-task answer on 2,400 nodes then reads one row
// instead of every row and its service map.
type lazyCluster struct {
	*Cluster
	loaded []bool
	svcs   map[string]*lazyCounts
}

type lazyCounts struct {
	id     string
	counts []uint32
	loaded []bool
}

func newLazyCluster(nodes []sdk.Node) *lazyCluster {
	c := &Cluster{
		Nodes:   nodes,
		FreeCPU: make([]int64, len(nodes)),
		FreeMem: make([]int64, len(nodes)),
		Tasks:   make([]uint32, len(nodes)),
	}
	return &lazyCluster{Cluster: c, loaded: make([]bool, len(nodes)), svcs: make(map[string]*lazyCounts)}
}

func (c *lazyCluster) serviceCounts(id string) *lazyCounts {
	s, ok := c.svcs[id]
	if !ok {
		s = &lazyCounts{id: id, counts: make([]uint32, len(c.Nodes)), loaded: make([]bool, len(c.Nodes))}
		c.svcs[id] = s
	}
	return s
}

// load reads row i's counters and its count of svc's service, unless
// read before.
func (c *lazyCluster) load(i int, svc *lazyCounts) {
	if !c.loaded[i] {
		c.refreshCounters(i)
		c.loaded[i] = true
	}
	if !svc.loaded[i] {
		svc.counts[i] = c.Nodes[i].ServiceTasks[svc.id]
		svc.loaded[i] = true
	}
}
