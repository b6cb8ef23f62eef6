// Guest idsunused is idsused registered with sdk.TaskIDsUnused (as if it
// did not read them), so that a test sees what it is given: it places
// nothing and reports in each group's detail how many task IDs it got.
package main

import (
	"fmt"

	"github.com/shoal-project/shoal/sdk"
)

func init() { sdk.RegisterScheduler(countIDs, sdk.TaskIDsUnused()) }

func countIDs(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
	resp := &sdk.ScheduleResponse{}
	for _, g := range req.Groups {
		p := make([]int32, g.Count)
		for i := range p {
			p[i] = sdk.Unschedulable
		}
		resp.Groups = append(resp.Groups, sdk.GroupResult{Placements: p, Reason: sdk.ReasonPolicy,
			Detail: fmt.Sprintf("%d task IDs", len(g.TaskIDs))})
	}
	return resp
}

func main() {}
