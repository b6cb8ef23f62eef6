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
			for i := range groups {
				// Task IDs: none, one per task (left out of the guest's calls
				// once it said it does not read them, ABI 1.2) or a wrong
				// number (kept: the guest must answer "invalid group").
				switch rapid.IntRange(0, 3).Draw(rt, "ids") {
				case 1, 2:
					groups[i].TaskIDs = taskIDs(step, int(groups[i].Count))
				case 3:
					groups[i].TaskIDs = taskIDs(step, int(groups[i].Count)+1)
				}
			}
			req := &sdk.ScheduleRequest{Nodes: nodes, Groups: groups}
			want := spread.Schedule(&sdk.ScheduleRequest{Nodes: sdk.CloneTable(nodes), Groups: groups})
			got, err := h.Schedule(ctx, sha, req)
			if err != nil {
				rt.Fatalf("step %d: %v", step, err)
			}
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				rt.Fatalf("step %d: delta-fed guest differs from the full-fed policy (-full +delta):\n%s", step, d)
			}
			policytest.Place(nodes, groups, got)
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
	if st := h.ScheduleCalls(); st.Delta == 0 || st.Resyncs != 0 || st.WithoutTaskIDs == 0 {
		t.Fatalf("calls %+v: want deltas, calls without task IDs and no resync", st)
	}
}

func taskIDs(step, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d-%d", step, i)
	}
	return ids
}

// TestTaskIDsLeftOutForGuestsThatDoNotReadThem (ABI 1.2): a guest
// registered with sdk.TaskIDsUnused gets the task IDs on its first call
// only (its answer says it does not read them) and answers as before; a
// guest registered the default way, and a raw 1.0 guest, get them on
// every call; Unload forgets the mark.
func TestTaskIDsLeftOutForGuestsThatDoNotReadThem(t *testing.T) {
	h, _ := newHost(t, plugins.HostConfig{})
	ctx := context.Background()
	req := policytest.Uniform(40, 100)
	detail := func(sha string) string {
		t.Helper()
		resp, err := h.Schedule(ctx, sha, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Groups[0].Detail
	}
	used := load(t, h, guest(t, "idsused"))
	for call := range 3 {
		if got := detail(used); got != "100 task IDs" {
			t.Fatalf("default guest, call %d: %q", call, got)
		}
	}
	unused := load(t, h, guest(t, "idsunused"))
	for call, want := range []string{"100 task IDs", "0 task IDs", "0 task IDs"} {
		if got := detail(unused); got != want {
			t.Fatalf("TaskIDsUnused guest, call %d: %q, want %q", call, got, want)
		}
	}
	if st := h.ScheduleCalls(); st.WithoutTaskIDs != 2 {
		t.Fatalf("calls %+v: want 2 without task IDs", st)
	}
	h.Unload(ctx, unused)
	unused = load(t, h, guest(t, "idsunused"))
	if got := detail(unused); got != "100 task IDs" {
		t.Fatalf("after Unload: %q", got)
	}

	// The built-in spread says so too, and answers as natively.
	sp := load(t, h, plugins.Builtin("spread"))
	for range 3 {
		got, err := h.Schedule(ctx, sp, req)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(spread.Schedule(req), got); d != "" {
			t.Fatalf("differs from native:\n%s", d)
		}
	}
	if st := h.ScheduleCalls(); st.WithoutTaskIDs != 4 {
		t.Fatalf("calls %+v: want 4 without task IDs", st)
	}
	// A raw ABI 1.0 guest never says so: it always gets them.
	raw := load(t, h, guest(t, "schedonly"))
	for range 2 {
		if _, err := h.Schedule(ctx, raw, req); err == nil {
			t.Fatal("schedonly answers nothing: want an invalid answer")
		}
	}
	if st := h.ScheduleCalls(); st.WithoutTaskIDs != 4 {
		t.Fatalf("calls %+v: a 1.0 guest got calls without task IDs", st)
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
		st := h.ScheduleCalls()
		st.WithoutTaskIDs = 0 // TestTaskIDsLeftOutForGuestsThatDoNotReadThem
		if st != want {
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
