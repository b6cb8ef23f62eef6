package policytest_test

import (
	"runtime"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// Validate accepts exactly the answers a replay over a whole Cluster
// accepts, whether the answer is small (validated on the rows it places
// on) or large (on the whole table): spread's answers, some placements
// moved to random nodes, unschedulable or out of range.
func TestPropertyValidateAsReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		req := &sdk.ScheduleRequest{Nodes: policytest.Nodes(t, 12), Groups: policytest.Groups(t, 4)}
		resp := spread.Schedule(req)
		for gi := range resp.Groups {
			ps := resp.Groups[gi].Placements
			for _, k := range rapid.SliceOfN(rapid.IntRange(0, max(len(ps)-1, 0)), 0, 3).Draw(t, "moved") {
				if k < len(ps) {
					ps[k] = int32(rapid.IntRange(-1, len(req.Nodes)).Draw(t, "to"))
				}
			}
		}
		got, want := filter.Validate(req, resp) == nil, replayValid(req, resp)
		if got != want {
			t.Fatalf("Validate accepts: %v, replay accepts: %v (%v)", got, want, filter.Validate(req, resp))
		}
	})
}

// replayValid places every task of resp in order on one Cluster, checking
// each placement first.
func replayValid(req *sdk.ScheduleRequest, resp *sdk.ScheduleResponse) bool {
	if len(resp.Groups) != len(req.Groups) {
		return false
	}
	c := filter.NewCluster(req.Nodes)
	for gi := range req.Groups {
		g, ps := &req.Groups[gi], resp.Groups[gi].Placements
		if len(ps) != int(g.Count) {
			return false
		}
		cons, err := filter.ParseConstraints(g.Constraints)
		for _, p := range ps {
			switch {
			case p == sdk.Unschedulable:
				continue
			case err != nil, p < 0, int(p) >= len(req.Nodes), c.Check(int(p), g, cons) != filter.FailNone:
				return false
			}
			c.Place(int(p), g)
		}
	}
	return true
}

// Validating a one-task answer on 2,400 nodes allocates for the row it
// places on, not for the table.
func TestValidateOneTaskAllocatesLittle(t *testing.T) {
	req := policytest.Uniform(2400, 1)
	resp := spread.Schedule(req)
	if err := filter.Validate(req, resp); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_ = filter.Validate(req, resp)
	}
	runtime.ReadMemStats(&after)
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / 10
	if bytes > 4096 {
		t.Errorf("validating one task on 2,400 nodes allocated %.0f bytes, want <= 4 KiB", bytes)
	}
}
