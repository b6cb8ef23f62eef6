package filter

import (
	"errors"
	"fmt"
	"slices"

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
	total := 0
	for gi := range resp.Groups {
		total += len(resp.Groups[gi].Placements)
	}
	c := newLazyCluster(req.Nodes, total)
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
		var static []Failure
		var checked []bool
		svc := c.serviceCounts(g.ServiceID)
		for ti, p := range res.Placements {
			if p == sdk.Unschedulable {
				continue
			}
			if p < 0 || int(p) >= len(req.Nodes) {
				return fmt.Errorf("%w: group %d task %d: node index %d out of range [0,%d)", ErrInvalidPlacement, gi, ti, p, len(req.Nodes))
			}
			j := c.row(int(p), svc)
			if j >= len(checked) {
				static, checked = grow(static, len(c.Nodes)), grow(checked, len(c.Nodes))
			}
			if !checked[j] {
				static[j], checked[j] = c.Static(j, g, cons), true
			}
			f := static[j]
			if f == FailNone {
				f = c.Fits(j, g, svc.counts)
			}
			if f != FailNone {
				return fmt.Errorf("%w: group %d task %d on node %d (%s): %s", ErrInvalidPlacement, gi, ti, p, req.Nodes[p].ID, f)
			}
			c.placeIn(j, g, svc.counts)
		}
	}
	return nil
}

// lazyCluster is a Cluster whose rows are read from the table when first
// placed on: replaying a one-task answer on 2,400 nodes then reads one row
// instead of every row and its service map. An answer of at most
// maxSparse placements gets a Cluster of only the rows it places on, in
// the order first placed on (row j is table row rows[j]), so that
// validating it allocates for those rows, not for the whole table: a
// scheduling pass validates a one-task answer once or twice, and the
// garbage of 2,400-row arrays made the manager's collector run more often
// (BENCHMARKS.md, "Garbage per one-task pass"). Larger answers index the
// Cluster by table row.
type lazyCluster struct {
	*Cluster
	table  []sdk.Node
	sparse bool
	rows   []int  // sparse: the table row of each Cluster row
	loaded []bool // dense: the table rows read so far
	svcs   map[string]*lazyCounts
}

type lazyCounts struct {
	id     string
	counts []uint32 // by Cluster row
	loaded []bool
}

// maxSparse is the largest answer validated on a Cluster of the rows it
// places on: finding a row is a scan of those rows.
const maxSparse = 16

func newLazyCluster(nodes []sdk.Node, placements int) *lazyCluster {
	c := &lazyCluster{Cluster: &Cluster{}, table: nodes, sparse: placements <= maxSparse, svcs: make(map[string]*lazyCounts)}
	if !c.sparse {
		c.Nodes = nodes
		c.FreeCPU, c.FreeMem, c.Tasks = make([]int64, len(nodes)), make([]int64, len(nodes)), make([]uint32, len(nodes))
		c.loaded = make([]bool, len(nodes))
	}
	return c
}

func (c *lazyCluster) serviceCounts(id string) *lazyCounts {
	s, ok := c.svcs[id]
	if !ok {
		s = &lazyCounts{id: id}
		c.svcs[id] = s
	}
	return s
}

// row returns the Cluster row of table row i, with its counters and its
// count of svc's service read from the table unless read before.
func (c *lazyCluster) row(i int, svc *lazyCounts) int {
	j := i
	if c.sparse {
		j = slices.Index(c.rows, i)
		if j < 0 {
			j = len(c.rows)
			c.rows = append(c.rows, i)
			c.Nodes = append(c.Nodes, c.table[i])
			c.FreeCPU, c.FreeMem, c.Tasks = append(c.FreeCPU, 0), append(c.FreeMem, 0), append(c.Tasks, 0)
			c.refreshCounters(j)
		}
	} else if !c.loaded[i] {
		c.refreshCounters(i)
		c.loaded[i] = true
	}
	if j >= len(svc.loaded) {
		svc.counts, svc.loaded = grow(svc.counts, len(c.Nodes)), grow(svc.loaded, len(c.Nodes))
	}
	if !svc.loaded[j] {
		svc.counts[j] = c.Nodes[j].ServiceTasks[svc.id]
		svc.loaded[j] = true
	}
	return j
}

// grow returns s lengthened with zero values to n.
func grow[T any](s []T, n int) []T {
	if len(s) >= n {
		return s
	}
	return append(s, make([]T, n-len(s))...)
}
