package policytest_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// keptGuest drives the sdk's guest side (sdk.HandleSchedule, natively) as
// the plugin host does: a whole table first, then deltas against the table
// the guest holds.
type keptGuest struct {
	gen  uint64
	held []sdk.Node // nil: the next call carries the whole table
}

func (g *keptGuest) schedule(t *rapid.T, req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
	g.gen++
	var wire []byte
	if g.held == nil {
		wire = sdk.AppendScheduleCall(nil, req.Nodes, req.Groups, &sdk.ScheduleDelta{Generation: g.gen})
	} else {
		d, inserted, _ := sdk.DiffTables(g.held, req.Nodes)
		d.Generation, d.BaseGeneration = g.gen, g.gen-1
		wire = sdk.AppendScheduleCall(nil, inserted, req.Groups, &d)
	}
	resp, err := sdk.UnmarshalScheduleResponse(sdk.HandleSchedule(wire))
	if err != nil || resp.Error != "" || resp.Resync || resp.Generation != g.gen {
		t.Fatalf("guest call: %v %+v", err, resp)
	}
	g.held = sdk.CloneTable(req.Nodes)
	resp.Generation, resp.TaskIDsUnused = 0, false // transport, not the answer
	return resp
}

// TestPropertyKeptSpreadAnswersAsNative: over random sequences of cluster
// changes between calls (tasks placed and stopped, resources changing,
// nodes drained, relabelled, joining and leaving), the spread guest that
// keeps its per-node state (spread.Kept behind sdk.RegisterKeptScheduler,
// fed deltas) answers exactly as the native spread and as a guest that
// starts from the whole table (after a resync), also after the host sends
// a whole table mid-sequence (a sandbox restart or a plugin swap) and when
// an answer was not committed.
func TestPropertyKeptSpreadAnswersAsNative(t *testing.T) {
	checkKeptAnswersAsNative(t, spread.Schedule, func() sdk.KeptSchedulerFunc { return new(spread.Kept).Schedule })
}

// TestPropertyKeptBinpackAnswersAsNative is the same for binpack.
func TestPropertyKeptBinpackAnswersAsNative(t *testing.T) {
	checkKeptAnswersAsNative(t, binpack.Schedule, func() sdk.KeptSchedulerFunc { return new(binpack.Kept).Schedule })
}

func checkKeptAnswersAsNative(t *testing.T, native sdk.SchedulerFunc, newKept func() sdk.KeptSchedulerFunc) {
	defer sdk.RegisterScheduler(nil)
	rapid.Check(t, func(rt *rapid.T) {
		sdk.RegisterKeptScheduler(newKept(), sdk.TaskIDsUnused())
		guest := &keptGuest{}
		nodes := policytest.Nodes(rt, 20)
		svcs := []string{"s1", "s2", "s3"}
		for i := range nodes {
			for _, s := range svcs {
				if c := rapid.IntRange(0, 2).Draw(rt, "svc tasks"); c > 0 {
					if nodes[i].ServiceTasks == nil {
						nodes[i].ServiceTasks = map[string]uint32{}
					}
					nodes[i].ServiceTasks[s] = uint32(c)
				}
			}
		}
		joined := 0
		var groups []sdk.TaskGroup
		for step := range rapid.IntRange(1, 10).Draw(rt, "steps") {
			// Groups still pending come again (their filter results are
			// what the guest keeps); new ones come too.
			if step == 0 || rapid.Bool().Draw(rt, "new groups") {
				groups = policytest.Groups(rt, 3)
			}
			req := &sdk.ScheduleRequest{Nodes: nodes, Groups: groups}
			if rapid.IntRange(0, 9).Draw(rt, "restart") == 0 {
				guest.held = nil // the guest lost its table: a whole one comes
			}
			want := native(&sdk.ScheduleRequest{Nodes: sdk.CloneTable(nodes), Groups: req.Groups})
			got := guest.schedule(rt, req)
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				rt.Fatalf("step %d: kept guest differs from native (-native +kept):\n%s", step, d)
			}
			resynced := newKept()(&sdk.ScheduleRequest{Nodes: sdk.CloneTable(nodes), Groups: req.Groups}, sdk.TableChanges{})
			if d := cmp.Diff(want, resynced, cmpopts.EquateEmpty()); d != "" {
				rt.Fatalf("step %d: a guest from the whole table differs from native:\n%s", step, d)
			}
			// The scheduler may not commit an answer (it failed its
			// checks, or a commit failed): the guest must not keep it.
			if rapid.IntRange(0, 3).Draw(rt, "commit") > 0 {
				policytest.Place(nodes, req.Groups, got)
			}
			nodes = changeCluster(rt, nodes, &joined)
		}
	})
}

// changeCluster changes the table between calls, mostly rows' counters
// (which the guest takes as patches of rows it keeps), sometimes a row
// beyond them (replaced in place) or the set of rows.
func changeCluster(t *rapid.T, nodes []sdk.Node, joined *int) []sdk.Node {
	for range rapid.IntRange(0, 4).Draw(t, "changes") {
		if len(nodes) == 0 {
			break
		}
		n := &nodes[rapid.IntRange(0, len(nodes)-1).Draw(t, "row")]
		switch rapid.IntRange(0, 9).Draw(t, "change") {
		case 0: // a node leaves
			i := rapid.IntRange(0, len(nodes)-1).Draw(t, "leaves")
			nodes = append(nodes[:i:i], nodes[i+1:]...)
		case 1: // a node joins
			*joined++
			j := sdk.Node{ID: fmt.Sprintf("j%d", *joined), Ready: true, Kinds: []string{"container"},
				TotalNanoCPUs: 4e9, FreeNanoCPUs: 4e9, TotalMemoryBytes: 4 << 30, FreeMemoryBytes: 4 << 30,
				Labels: map[string]string{"zone": "c"}}
			i := rapid.IntRange(0, len(nodes)).Draw(t, "joins at")
			nodes = append(nodes[:i:i], append([]sdk.Node{j}, nodes[i:]...)...)
		case 2: // drained, or down
			n.Availability = sdk.AvailabilityDrain
			n.Ready = rapid.Bool().Draw(t, "ready")
		case 3: // relabelled
			n.Labels = map[string]string{"zone": rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "zone")}
		case 4, 5: // a task stops
			for svc, c := range n.ServiceTasks {
				if c > 0 {
					n.ServiceTasks[svc]--
					n.TaskCount--
					n.FreeNanoCPUs += 5e8
					break
				}
			}
		default: // resources and counts move
			n.FreeNanoCPUs = rapid.Int64Range(0, n.TotalNanoCPUs).Draw(t, "free cpu")
			n.FreeMemoryBytes = rapid.Int64Range(0, n.TotalMemoryBytes).Draw(t, "free mem")
			n.TaskCount = rapid.Uint32Range(0, 6).Draw(t, "tasks")
			svc := rapid.SampledFrom([]string{"s1", "s2", "s3"}).Draw(t, "svc")
			if n.ServiceTasks == nil {
				n.ServiceTasks = map[string]uint32{}
			}
			n.ServiceTasks[svc] = rapid.Uint32Range(0, 3).Draw(t, "count")
		}
	}
	return nodes
}
