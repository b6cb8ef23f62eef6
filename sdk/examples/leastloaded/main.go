// Command leastloaded is a worked example of a shoal scheduler plugin: each
// task goes to the feasible node with the most free memory left (ties: most
// free cpu, then lowest index). Feasibility (ready, active, kind,
// constraints, resources, max replicas per node) comes from the sdk's
// filter package, so the answer always passes the manager's validation.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o leastloaded.wasm ./examples/leastloaded   # in sdk/
//
// See README.md.
package main

import (
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// A c-shared Wasm module runs init functions but never main: register here.
func init() { sdk.RegisterScheduler(schedule) }

func main() {}

func schedule(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
	c := filter.NewCluster(req.Nodes)
	resp := &sdk.ScheduleResponse{}
	for gi := range req.Groups {
		g := &req.Groups[gi]
		reason, detail, cons := filter.GroupError(g)
		if reason != sdk.ReasonNone {
			resp.Groups = append(resp.Groups, filter.Unschedulable(g, reason, detail, sdk.Explanation{}))
			continue
		}
		// Nodes that pass the filters that cannot change during the batch.
		var candidates []int
		for i := range req.Nodes {
			if c.Static(i, g, cons) == filter.FailNone {
				candidates = append(candidates, i)
			}
		}
		svc := c.ServiceCounts(g.ServiceID)
		res := sdk.GroupResult{Placements: make([]int32, g.Count)}
		for t := range res.Placements {
			// A linear scan per task keeps the example short; see
			// sdk/policy/spread for a heap-based policy that scales.
			best := -1
			for _, i := range candidates {
				if c.Fits(i, g, svc) != filter.FailNone {
					continue
				}
				if best < 0 || c.FreeMem[i] > c.FreeMem[best] ||
					(c.FreeMem[i] == c.FreeMem[best] && c.FreeCPU[i] > c.FreeCPU[best]) {
					best = i
				}
			}
			if best < 0 {
				c.NoneFit(&res, t, g, cons)
				break
			}
			c.Place(best, g)
			res.Placements[t] = int32(best)
		}
		resp.Groups = append(resp.Groups, res)
	}
	return resp
}
