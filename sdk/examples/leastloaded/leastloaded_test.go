package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/plugintest"
)

// TestRecordedCluster builds this package to Wasm, runs it against the
// recorded cluster state through the manager's plugin host and checks where
// the tasks went.
func TestRecordedCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Wasm module")
	}
	wasm := plugintest.Build(t, ".")
	p := plugintest.New(t, wasm, plugintest.Scheduler)
	req := plugintest.ReadScheduleRequest(t, "testdata/cluster.json")
	resp := p.Schedule(t, req)

	// web: 6 x 2 GiB, not on the manager, not on the drained node. n1 has
	// 12 GiB free and n2 4 GiB: n1 takes tasks until it has no more free
	// memory than n2, then they alternate (ties go to more free cpu).
	web := plugintest.Placed(req, &resp.Groups[0])
	if d := cmp.Diff(map[string]int{"n1": 5, "n2": 1}, web); d != "" {
		t.Fatalf("web placements (-want +got):\n%s", d)
	}
	// batch: 64 GiB fits nowhere, and the reason says why.
	batch := resp.Groups[1]
	if batch.Placements[0] != sdk.Unschedulable {
		t.Fatalf("batch placed: %v", batch.Placements)
	}
	if got, want := batch.Message(), "no suitable node: 1 drained, 3 nodes lack memory"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	// The Wasm answer equals the native function's.
	if d := cmp.Diff(schedule(req), resp); d != "" {
		t.Fatalf("wasm differs from native:\n%s", d)
	}
}
