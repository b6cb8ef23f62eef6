// Guest badnode answers with a node index that does not exist, a node that
// is down or a node that is full, depending on the group's service ID.
package main

import "github.com/shoal-project/shoal/sdk"

func init() {
	sdk.RegisterScheduler(func(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
		resp := &sdk.ScheduleResponse{}
		for _, g := range req.Groups {
			var target int32
			switch g.ServiceID {
			case "nonexistent":
				target = int32(len(req.Nodes) + 5)
			case "down":
				target = pick(req, func(n *sdk.Node) bool { return !n.Ready })
			case "full":
				target = pick(req, func(n *sdk.Node) bool { return n.FreeMemoryBytes < g.MemoryBytes })
			case "drained":
				target = pick(req, func(n *sdk.Node) bool { return n.Availability == sdk.AvailabilityDrain })
			case "constraint":
				target = pick(req, func(n *sdk.Node) bool { return n.Role == sdk.RoleManager })
			}
			p := make([]int32, g.Count)
			for i := range p {
				p[i] = target
			}
			resp.Groups = append(resp.Groups, sdk.GroupResult{Placements: p})
		}
		return resp
	})
}

func pick(req *sdk.ScheduleRequest, f func(*sdk.Node) bool) int32 {
	for i := range req.Nodes {
		if f(&req.Nodes[i]) {
			return int32(i)
		}
	}
	return 0
}

func main() {}
