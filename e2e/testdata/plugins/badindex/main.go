// Command badindex is a hostile scheduler plugin for the e2e tests: it
// exports a valid ABI but places every task on a node index past the end of
// the node table. The manager must refuse the answer and fall back.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o badindex.wasm ./e2e/testdata/plugins/badindex
package main

import "github.com/shoal-project/shoal/sdk"

func init() {
	sdk.RegisterScheduler(func(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
		resp := &sdk.ScheduleResponse{}
		for _, g := range req.Groups {
			p := make([]int32, g.Count)
			for i := range p {
				p[i] = int32(len(req.Nodes) + 7)
			}
			resp.Groups = append(resp.Groups, sdk.GroupResult{Placements: p})
		}
		return resp
	})
}

func main() {}
