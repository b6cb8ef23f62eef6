package policytest

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// CheckValidAnswers checks schedule on random cluster states: it never
// places over free resources or against a constraint or filter
// (filter.Validate replays every placement), and a task it leaves
// unschedulable comes with a reason.
func CheckValidAnswers(t *testing.T, schedule func(*sdk.ScheduleRequest) *sdk.ScheduleResponse) {
	rapid.Check(t, func(t *rapid.T) {
		req := &sdk.ScheduleRequest{Nodes: Nodes(t, 12), Groups: Groups(t, 4)}
		resp := schedule(req)
		if err := filter.Validate(req, resp); err != nil {
			t.Fatal(err)
		}
		for gi, g := range resp.Groups {
			for _, p := range g.Placements {
				if p == sdk.Unschedulable && g.Reason == sdk.ReasonNone {
					t.Fatalf("group %d: unschedulable without a reason", gi)
				}
			}
		}
	})
}
