// Guest idsused is a scheduler registered the default way (it may read
// task IDs): it places nothing and reports in each group's detail how many
// task IDs it was given.
package main

import (
	"fmt"

	"github.com/shoal-project/shoal/sdk"
)

func init() { sdk.RegisterScheduler(countIDs) }

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
