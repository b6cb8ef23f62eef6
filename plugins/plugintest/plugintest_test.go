package plugintest_test

import (
	"path/filepath"
	"testing"

	"github.com/shoal-project/shoal/plugins/builtin"
	"github.com/shoal-project/shoal/plugins/plugintest"
	"github.com/shoal-project/shoal/sdk"
)

// TestRunsBuiltinSpreadOnRecordedCluster runs the committed spread module
// against the leastloaded example's recorded cluster: the six web tasks
// land on the two schedulable workers (not the drained node, not the
// manager), and the 64 GiB batch task fits nowhere, with a reason.
func TestRunsBuiltinSpreadOnRecordedCluster(t *testing.T) {
	p := plugintest.New(t, builtin.Module("spread"), plugintest.Scheduler)
	req := plugintest.ReadScheduleRequest(t, filepath.Join("..", "..", "sdk", "examples", "leastloaded", "testdata", "cluster.json"))
	resp := p.Schedule(t, req)
	web := plugintest.Placed(req, &resp.Groups[0])
	if web["n1"]+web["n2"] != 6 || web[""] != 0 {
		t.Fatalf("web placements %v, want all six on n1 and n2", web)
	}
	if got := plugintest.Placed(req, &resp.Groups[1]); got[""] != 1 {
		t.Fatalf("batch placements %v, want unschedulable", got)
	}
	if resp.Groups[1].Reason == sdk.ReasonNone {
		t.Fatal("unschedulable batch task without a reason")
	}
}
