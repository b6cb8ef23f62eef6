package spread_test

import (
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

func TestPreferenceSpreadsZonesFirst(t *testing.T) {
	// Zone a has 4 nodes, b has 1: with a zone preference each zone gets
	// half the tasks.
	req := &sdk.ScheduleRequest{}
	for i, z := range []string{"a", "a", "a", "a", "b"} {
		req.Nodes = append(req.Nodes, sdk.Node{ID: fmt.Sprint(i), Ready: true, Labels: map[string]string{"zone": z}})
	}
	req.Groups = []sdk.TaskGroup{{ServiceID: "s", Count: 10, Preferences: []string{"node.labels.zone"}}}
	resp := spread.Schedule(req)
	perZone := map[string]int{}
	for _, p := range resp.Groups[0].Placements {
		perZone[req.Nodes[p].Labels["zone"]]++
	}
	if perZone["a"] != 5 || perZone["b"] != 5 {
		t.Fatalf("per zone: %v", perZone)
	}
}

func TestFewestServiceTasksThenFewestTotal(t *testing.T) {
	req := &sdk.ScheduleRequest{Nodes: []sdk.Node{
		{ID: "busy", Ready: true, TaskCount: 9},
		{ID: "hasSvc", Ready: true, TaskCount: 1, ServiceTasks: map[string]uint32{"s": 1}},
		{ID: "idle", Ready: true, TaskCount: 2},
	}, Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 2}}}
	got := spread.Schedule(req).Groups[0].Placements
	// First to idle (0 of s, 2 total), then busy (0 of s, 9 total).
	if got[0] != 2 || got[1] != 0 {
		t.Fatalf("got %v", got)
	}
}

func TestExplanation(t *testing.T) {
	req := &sdk.ScheduleRequest{Nodes: []sdk.Node{
		{ID: "a", Ready: true, FreeMemoryBytes: 1 << 20},
		{ID: "b", Ready: true, FreeMemoryBytes: 1 << 20},
		{ID: "c", Ready: true, Availability: sdk.AvailabilityDrain, FreeMemoryBytes: 1 << 40},
		{ID: "d", Ready: true, FreeMemoryBytes: 1 << 30},
	}, Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 2, MemoryBytes: 1 << 30}}}
	g := spread.Schedule(req).Groups[0]
	if g.Placements[0] != 3 || g.Placements[1] != sdk.Unschedulable {
		t.Fatalf("placements %v", g.Placements)
	}
	if got, want := g.Message(), "no suitable node: 1 drained, 3 nodes lack memory"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestInvalidConstraint(t *testing.T) {
	req := &sdk.ScheduleRequest{Nodes: []sdk.Node{{ID: "a", Ready: true}},
		Groups: []sdk.TaskGroup{{ServiceID: "s", Count: 1, Constraints: []string{"node.color==red"}}}}
	g := spread.Schedule(req).Groups[0]
	if g.Reason != sdk.ReasonInvalidConstraint || g.Placements[0] != sdk.Unschedulable {
		t.Fatalf("got %+v", g)
	}
}
