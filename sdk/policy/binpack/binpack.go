// Package binpack is the reference bin-packing scheduler: after the same
// filters as spread, each task goes to the fullest node that still fits it
// (least free cpu fraction + free memory fraction, then most tasks, then
// lowest index), so a batch lands on as few nodes as possible. Placement
// preferences are ignored. Pure; used natively and by the built-in binpack
// Wasm guest.
package binpack

import (
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"github.com/shoal-project/shoal/sdk/policy/internal/heap"
)

// Schedule places every group of the request, in order.
func Schedule(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
	return filter.ScheduleEach(req, scheduleGroup)
}

// Kept is binpack for a guest that keeps its node table between calls
// (sdk.RegisterKeptScheduler): the same answers as Schedule, with the
// per-node counters, per-service counts and static filter results kept
// between calls (filter.Kept). The zero value is ready; not safe for
// concurrent use.
type Kept struct{ k filter.Kept }

// Schedule answers req; ch says how its table differs from the previous
// call's.
func (s *Kept) Schedule(req *sdk.ScheduleRequest, ch sdk.TableChanges) *sdk.ScheduleResponse {
	return s.k.ScheduleEach(req, ch, scheduleGroup)
}

func freeScore(c *filter.Cluster, i int) float64 {
	var s float64
	n := &c.Nodes[i]
	if n.TotalNanoCPUs > 0 {
		s += float64(c.FreeCPU[i]) / float64(n.TotalNanoCPUs)
	}
	if n.TotalMemoryBytes > 0 {
		s += float64(c.FreeMem[i]) / float64(n.TotalMemoryBytes)
	}
	return s
}

func scheduleGroup(c *filter.Cluster, g *sdk.TaskGroup) sdk.GroupResult {
	reason, detail, cons := filter.GroupError(g)
	if reason != sdk.ReasonNone {
		return filter.Unschedulable(g, reason, detail, sdk.Explanation{})
	}
	svc := c.ServiceCounts(g.ServiceID)
	fails := c.StaticFailures(g, cons)
	if g.Count <= maxScanned {
		return placeScan(c, g, cons, svc, fails)
	}
	score := make([]float64, len(c.Nodes))
	var items []int
	for i, f := range fails {
		if f == filter.FailNone && c.Fits(i, g, svc) == filter.FailNone {
			items = append(items, i)
			score[i] = freeScore(c, i)
		}
	}
	tasks := c.Tasks
	h := heap.Heap{Items: items, Less: func(x, y int) bool {
		if score[x] != score[y] {
			return score[x] < score[y]
		}
		if tasks[x] != tasks[y] {
			return tasks[x] > tasks[y]
		}
		return x < y
	}}
	h.Init()
	res := sdk.GroupResult{Placements: make([]int32, g.Count)}
	for t := range res.Placements {
		if h.Len() == 0 {
			c.NoneFit(&res, t, g, cons)
			break
		}
		n := h.Top()
		c.Place(n, g)
		score[n] = freeScore(c, n)
		if c.Fits(n, g, svc) != filter.FailNone {
			h.Pop()
		} else {
			// The key only decreased: the node stays on top.
			h.FixTop()
		}
		res.Placements[t] = int32(n)
	}
	return res
}

// maxScanned is the largest group placed by scanning the nodes instead of
// building a heap: a one-task call on 2,400 nodes then makes no score
// array and no heap (the kept guest's one-task call made both per call).
const maxScanned = 4

// placeScan is scheduleGroup's heap loop by scans: the top of the heap is
// the fullest node that passes and fits, the least (freeScore, -tasks,
// index); a placement only lowers its score and raises its tasks, so it
// stays on top until it no longer fits, and only then is the next one
// found by another scan.
func placeScan(c *filter.Cluster, g *sdk.TaskGroup, cons []filter.Constraint, svc []uint32, fails []filter.Failure) sdk.GroupResult {
	res := sdk.GroupResult{Placements: make([]int32, g.Count)}
	top := -1
	for t := range res.Placements {
		if top < 0 || c.Fits(top, g, svc) != filter.FailNone {
			if top = fullest(c, g, svc, fails); top < 0 {
				c.NoneFit(&res, t, g, cons)
				break
			}
		}
		c.Place(top, g)
		res.Placements[t] = int32(top)
	}
	return res
}

// fullest returns the least (freeScore, -tasks, index) of the nodes that
// pass the static filters and fit, or -1.
func fullest(c *filter.Cluster, g *sdk.TaskGroup, svc []uint32, fails []filter.Failure) int {
	best, bestScore := -1, 0.0
	for i, f := range fails {
		if f != filter.FailNone || c.Fits(i, g, svc) != filter.FailNone {
			continue
		}
		s := freeScore(c, i)
		if best < 0 || s < bestScore || s == bestScore && c.Tasks[i] > c.Tasks[best] {
			best, bestScore = i, s
		}
	}
	return best
}
