package policytest_test

import (
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// BenchmarkGuestOneTaskDelta is the guest's side of a one-task call on
// 2,400 nodes that each run tasks of 42 services, in steady state (one
// patched row per call), run natively through sdk.HandleSchedule: the
// spread registered the plain way (per-node state rebuilt every call) and
// kept (spread.Kept).
func BenchmarkGuestOneTaskDelta(b *testing.B) {
	req := policytest.Uniform(2400, 1)
	req.Groups[0].TaskIDs = nil
	for i := range req.Nodes {
		req.Nodes[i].ServiceTasks = map[string]uint32{}
		for s := range 42 {
			req.Nodes[i].ServiceTasks[fmt.Sprintf("svc%03d", (i+s)%100)] = 1
		}
	}
	req.Groups[0].ServiceID = "svc007"
	for _, mode := range []string{"plain", "kept"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "plain" {
				sdk.RegisterScheduler(spread.Schedule)
			} else {
				var k spread.Kept
				sdk.RegisterKeptScheduler(k.Schedule)
			}
			defer sdk.RegisterScheduler(nil)
			gen := uint64(1)
			full := sdk.AppendScheduleCall(nil, req.Nodes, req.Groups, &sdk.ScheduleDelta{Generation: gen})
			if _, err := sdk.UnmarshalScheduleResponse(sdk.HandleSchedule(full)); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				gen++
				d := &sdk.ScheduleDelta{Generation: gen, BaseGeneration: gen - 1, Patches: []sdk.NodePatch{
					{Index: 5, FreeNanoCPUs: 64e9, FreeMemoryBytes: 256 << 30, TaskCount: uint32(gen)}}}
				resp, err := sdk.UnmarshalScheduleResponse(sdk.HandleSchedule(sdk.AppendScheduleCall(nil, nil, req.Groups, d)))
				if err != nil || resp.Error != "" || resp.Generation != gen {
					b.Fatalf("%v %+v", err, resp)
				}
			}
		})
	}
}
