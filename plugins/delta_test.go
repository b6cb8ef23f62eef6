package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/plugins"
	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// place counts the answer's placements in the table, as the scheduler does
// after a call.
func place(nodes []sdk.Node, groups []sdk.TaskGroup, resp *sdk.ScheduleResponse) {
	for gi, g := range resp.Groups {
		tg := &groups[gi]
		for _, p := range g.Placements {
			if p == sdk.Unschedulable {
				continue
			}
			n := &nodes[p]
			n.FreeNanoCPUs -= tg.NanoCPUs
			n.FreeMemoryBytes -= tg.MemoryBytes
			n.TaskCount++
			if n.ServiceTasks == nil {
				n.ServiceTasks = map[string]uint32{}
			}
			n.ServiceTasks[tg.ServiceID]++
		}
	}
}

// TestDeltaFedGuestAnswersAsFullFed: over random sequences of cluster
// changes (placements, nodes joining, leaving, drained, relabelled, tasks
// stopping), the spread guest in the sandbox, fed deltas, answers exactly
// what the spread policy answers given the whole table each time.
func TestDeltaFedGuestAnswersAsFullFed(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	sha := load(t, h, plugins.Builtin("spread"))
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		nodes := policytest.Nodes(rt, 25)
		joined := 0
		for step := range rapid.IntRange(1, 8).Draw(rt, "steps") {
			groups := policytest.Groups(rt, 3)
			req := &sdk.ScheduleRequest{Nodes: nodes, Groups: groups}
			want := spread.Schedule(&sdk.ScheduleRequest{Nodes: sdk.CloneTable(nodes), Groups: groups})
			got, err := h.Schedule(ctx, sha, req)
			if err != nil {
				rt.Fatalf("step %d: %v", step, err)
			}
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				rt.Fatalf("step %d: delta-fed guest differs from the full-fed policy (-full +delta):\n%s", step, d)
			}
			place(nodes, groups, got)
			for range rapid.IntRange(0, 3).Draw(rt, "changes") {
				switch k := rapid.IntRange(0, 4).Draw(rt, "change"); {
				case k == 0 && len(nodes) > 0:
					i := rapid.IntRange(0, len(nodes)-1).Draw(rt, "leaves")
					nodes = append(nodes[:i:i], nodes[i+1:]...)
				case k == 1:
					joined++
					n := sdk.Node{ID: fmt.Sprintf("j%d", joined), Hostname: fmt.Sprintf("j%d", joined), Ready: true,
						Kinds: []string{"container", "process"}, TotalNanoCPUs: 4e9, FreeNanoCPUs: 4e9,
						TotalMemoryBytes: 4 << 30, FreeMemoryBytes: 4 << 30, Labels: map[string]string{"zone": "c"}}
					i := rapid.IntRange(0, len(nodes)).Draw(rt, "joins at")
					nodes = append(nodes[:i:i], append([]sdk.Node{n}, nodes[i:]...)...)
				case k == 2 && len(nodes) > 0:
					n := &nodes[rapid.IntRange(0, len(nodes)-1).Draw(rt, "drained")]
					n.Availability = sdk.AvailabilityDrain
				case k == 3 && len(nodes) > 0:
					n := &nodes[rapid.IntRange(0, len(nodes)-1).Draw(rt, "relabelled")]
					n.Labels = map[string]string{"zone": rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, "zone")}
				case k == 4 && len(nodes) > 0:
					n := &nodes[rapid.IntRange(0, len(nodes)-1).Draw(rt, "task stops")]
					for svc, c := range n.ServiceTasks {
						if c > 0 {
							n.ServiceTasks[svc]--
							n.TaskCount--
							break
						}
					}
				}
			}
		}
	})
	if st := h.ScheduleCalls(); st.Delta == 0 || st.Resyncs != 0 {
		t.Fatalf("calls %+v: want deltas and no resync", st)
	}
}

// TestDeltaResyncAfterRestartAndSwap: the second call on an unchanged cluster
// carries no node rows; a guest that lost its table (the sandbox was
// killed and restarted) answers resync and gets the whole table in the same
// Schedule; a swapped-in plugin starts with the whole table.
func TestDeltaResyncAfterRestartAndSwap(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{CallTimeout: 2 * time.Second})
	ctx := context.Background()
	sp := load(t, h, plugins.Builtin("spread"))
	req := policytest.Uniform(40, 100)
	call := func(sha string, native func(*sdk.ScheduleRequest) *sdk.ScheduleResponse, want plugins.ScheduleCallStats) {
		t.Helper()
		got, err := h.Schedule(ctx, sha, req)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(native(req), got); d != "" {
			t.Fatalf("differs from native:\n%s", d)
		}
		if st := h.ScheduleCalls(); st != want {
			t.Fatalf("calls %+v, want %+v", st, want)
		}
	}
	call(sp, spread.Schedule, plugins.ScheduleCallStats{Full: 1})
	call(sp, spread.Schedule, plugins.ScheduleCallStats{Full: 1, Delta: 1})
	req.Nodes[3].FreeNanoCPUs -= 1e9 // one row's counters change
	call(sp, spread.Schedule, plugins.ScheduleCallStats{Full: 1, Delta: 2})

	// A looping guest overruns its deadline: the sandbox is killed and
	// restarted, the spread instance with it.
	loop := load(t, h, guest(t, "loop"))
	if _, err := h.Schedule(ctx, loop, cluster()); !errors.Is(err, plugins.ErrTimeout) {
		t.Fatalf("loop: %v", err)
	}
	base := h.ScheduleCalls() // the loop's call was full
	call(sp, spread.Schedule, plugins.ScheduleCallStats{Full: base.Full + 1, Delta: base.Delta + 1, Resyncs: 1})
	call(sp, spread.Schedule, plugins.ScheduleCallStats{Full: base.Full + 1, Delta: base.Delta + 2, Resyncs: 1})

	// Swap in another scheduler: its first call carries the whole table.
	bp := load(t, h, plugins.Builtin("binpack"))
	call(bp, binpack.Schedule,
		plugins.ScheduleCallStats{Full: base.Full + 2, Delta: base.Delta + 2, Resyncs: 1})
	// Unloading forgets the table: the next call is whole again.
	h.Unload(ctx, sp)
	sp = load(t, h, plugins.Builtin("spread"))
	call(sp, spread.Schedule, plugins.ScheduleCallStats{Full: base.Full + 3, Delta: base.Delta + 2, Resyncs: 1})
}
