// Guest wronglen answers one placement short.
package main

import "github.com/shoal-project/shoal/sdk"

func init() {
	sdk.RegisterScheduler(func(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
		resp := &sdk.ScheduleResponse{}
		for _, g := range req.Groups {
			resp.Groups = append(resp.Groups, sdk.GroupResult{Placements: make([]int32, max(int(g.Count)-1, 0))})
		}
		return resp
	})
}

func main() {}
