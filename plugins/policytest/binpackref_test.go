package policytest_test

import (
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// TestBinpackMatchesReference: binpack (a heap, or scans for a few tasks)
// answers exactly as the policy written the slow, obvious way: for every
// task, the node that passes every filter with the least free cpu
// fraction + free memory fraction, then the most tasks, then the lowest
// index.
func TestBinpackMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := policytest.Nodes(t, 30)
		groups := policytest.Groups(t, 4)
		want := filter.ScheduleEach(&sdk.ScheduleRequest{Nodes: sdk.CloneTable(nodes), Groups: groups}, refBinpackGroup)
		got := binpack.Schedule(&sdk.ScheduleRequest{Nodes: nodes, Groups: groups})
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("binpack differs from the reference (-ref +binpack):\n%s", d)
		}
	})
}

func refBinpackGroup(c *filter.Cluster, g *sdk.TaskGroup) sdk.GroupResult {
	reason, detail, cons := filter.GroupError(g)
	if reason != sdk.ReasonNone {
		return filter.Unschedulable(g, reason, detail, sdk.Explanation{})
	}
	res := sdk.GroupResult{Placements: make([]int32, g.Count)}
	for t := range res.Placements {
		best, bestScore := -1, 0.0
		for i := range c.Nodes {
			if c.Check(i, g, cons) != filter.FailNone {
				continue
			}
			s := refFreeScore(c, i)
			if best < 0 || s < bestScore || s == bestScore && c.Tasks[i] > c.Tasks[best] {
				best, bestScore = i, s
			}
		}
		if best < 0 {
			for k := t; k < len(res.Placements); k++ {
				res.Placements[k] = sdk.Unschedulable
			}
			res.Reason = sdk.ReasonNoSuitableNode
			res.Explanation = c.Explain(g, cons)
			break
		}
		c.Place(best, g)
		res.Placements[t] = int32(best)
	}
	return res
}

func refFreeScore(c *filter.Cluster, i int) float64 {
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

// A kept one-task binpack call on 2,400 nodes, as the built-in guest
// makes it, builds no per-node score array or heap.
func TestBinpackKeptOneTaskAllocatesLittle(t *testing.T) {
	req := policytest.Uniform(2400, 1)
	req.Groups[0].TaskIDs = nil
	var k binpack.Kept
	k.Schedule(req, sdk.TableChanges{})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_ = k.Schedule(req, sdk.TableChanges{Same: true})
	}
	runtime.ReadMemStats(&after)
	if got := float64(after.TotalAlloc-before.TotalAlloc) / 10; got > 4096 {
		t.Errorf("a kept one-task binpack call on 2,400 nodes allocated %.0f bytes, want <= 4 KiB", got)
	}
}
