package binpack_test

import (
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
)

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
