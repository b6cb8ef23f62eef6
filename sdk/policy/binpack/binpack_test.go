package binpack_test

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"github.com/shoal-project/shoal/sdk/policy/policytest"
)

func TestValidAnswers(t *testing.T) { policytest.CheckValidAnswers(t, binpack.Schedule) }

func TestFewestNodesForEqualTasks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "nodes")
		perNode := rapid.IntRange(1, 8).Draw(t, "perNode")
		tasks := rapid.IntRange(0, n*perNode).Draw(t, "tasks")
		req := &sdk.ScheduleRequest{Nodes: make([]sdk.Node, n)}
		for i := range req.Nodes {
			mem := int64(perNode) << 30
			req.Nodes[i] = sdk.Node{ID: fmt.Sprint(i), Ready: true, TotalMemoryBytes: mem, FreeMemoryBytes: mem,
				TotalNanoCPUs: 16e9, FreeNanoCPUs: 16e9}
		}
		req.Groups = []sdk.TaskGroup{{ServiceID: "s", Count: uint32(tasks), MemoryBytes: 1 << 30, NanoCPUs: 1e8}}
		resp := binpack.Schedule(req)
		if err := filter.Validate(req, resp); err != nil {
			t.Fatal(err)
		}
		used := map[int32]bool{}
		for _, p := range resp.Groups[0].Placements {
			if p < 0 {
				t.Fatal("unschedulable although everything fits")
			}
			used[p] = true
		}
		if want := (tasks + perNode - 1) / perNode; len(used) != want {
			t.Fatalf("used %d nodes, want %d", len(used), want)
		}
	})
}

func TestPrefersFullerNode(t *testing.T) {
	req := &sdk.ScheduleRequest{Nodes: []sdk.Node{
		{ID: "empty", Ready: true, TotalMemoryBytes: 8 << 30, FreeMemoryBytes: 8 << 30},
		{ID: "half", Ready: true, TotalMemoryBytes: 8 << 30, FreeMemoryBytes: 4 << 30},
	}, Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 5, MemoryBytes: 1 << 30}}}
	got := binpack.Schedule(req).Groups[0].Placements
	want := []int32{1, 1, 1, 1, 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func BenchmarkBinpack100kOn2400(b *testing.B) {
	req := policytest.Uniform(2400, 100_000)
	for b.Loop() {
		binpack.Schedule(req)
	}
}
