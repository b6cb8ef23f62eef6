package scheduler

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"google.golang.org/protobuf/proto"
)

func TestSpreadsEvenly(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"a", "b", "c"} {
		h.addNode(id, 4*cpu, 8*gib)
	}
	h.addService("s", 7)
	st := h.pass()
	if st.Assigned != 7 || st.Unschedulable != 0 || st.Groups != 1 {
		t.Fatalf("stats %+v", st)
	}
	got := h.perNode("s")
	for _, n := range got {
		if n < 2 || n > 3 {
			t.Fatalf("uneven: %v", got)
		}
	}
	for _, tk := range h.st.Tasks("s") {
		if tk.GetScheduler() != PolicySpread || tk.GetStatus().GetMessage() == "" || tk.GetStatus().GetTimestamp() == nil {
			t.Fatalf("bad assigned task %v", tk)
		}
	}
	if st := h.pass(); st.Pending != 0 {
		t.Fatalf("second pass saw %d pending", st.Pending)
	}
}

func TestResourcesAndReasons(t *testing.T) {
	h := newHarness(t)
	h.addNode("small1", 4*cpu, 1*gib)
	h.addNode("small2", 4*cpu, 1*gib)
	h.addNode("big", 4*cpu, 8*gib)
	h.addNode("drained", 4*cpu, 64*gib, drained)
	h.addService("s", 10, reserve(0, 3*gib))
	st := h.pass()
	if st.Assigned != 2 || st.Unschedulable != 8 {
		t.Fatalf("stats %+v", st)
	}
	if got := h.perNode("s"); !maps.Equal(got, map[string]int{"big": 2}) {
		t.Fatalf("placements %v", got)
	}
	want := "no suitable node: 1 drained, 3 nodes lack memory"
	if got := h.errsOf("s"); !maps.Equal(got, map[string]int{want: 8}) {
		t.Fatalf("errors %v", got)
	}
	// Nothing changed: no writes on the next pass.
	if n := h.st.Writes(func() { h.pass() }); n != 0 {
		t.Fatalf("an unchanged unschedulable pass wrote to the store (%d proposals)", n)
	}
}

func TestAssignedTasksReserve(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", 2*cpu, 4*gib)
	h.addNode("b", 2*cpu, 4*gib)
	h.addService("old", 2, reserve(cpu, 0))
	// Pin both old tasks on a.
	for _, tk := range h.st.Tasks("old") {
		h.st.MustUpdate(func(tx store.Tx) error {
			x := proto.CloneOf(tx.GetTask(tk.GetId()))
			x.NodeId, x.Status.State = "a", shoalv1.TaskState_TASK_STATE_RUNNING
			return tx.Update(x)
		})
	}
	h.addService("new", 2, reserve(cpu, 0))
	h.pass()
	if got := h.perNode("new"); !maps.Equal(got, map[string]int{"b": 2}) {
		t.Fatalf("placements %v (a is full)", got)
	}
	// A terminal task frees its resources.
	tk := h.st.Tasks("old")[0]
	h.st.MustUpdate(func(tx store.Tx) error {
		x := proto.CloneOf(tx.GetTask(tk.GetId()))
		x.Status.State = shoalv1.TaskState_TASK_STATE_FAILED
		return tx.Update(x)
	})
	h.addTasks(h.st.Service("new"), 1, "")
	h.pass()
	if got := h.perNode("new"); !maps.Equal(got, map[string]int{"a": 1, "b": 2}) {
		t.Fatalf("placements %v", got)
	}
}

func TestConstraints(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", cpu, gib, labels("zone", "eu"))
	h.addNode("b", cpu, gib, labels("zone", "us"))
	h.addNode("m", cpu, gib, labels("zone", "eu"), manager)
	h.addService("eu", 4, constraints("node.labels.zone==eu", "node.role!=manager"))
	h.addService("host", 2, constraints("node.hostname==host-b"))
	h.addService("none", 1, constraints("node.labels.zone==asia"))
	h.pass()
	if got := h.perNode("eu"); !maps.Equal(got, map[string]int{"a": 4}) {
		t.Fatalf("eu: %v", got)
	}
	if got := h.perNode("host"); !maps.Equal(got, map[string]int{"b": 2}) {
		t.Fatalf("host: %v", got)
	}
	if got := h.errsOf("none"); !maps.Equal(got, map[string]int{"no suitable node: 3 nodes fail constraints": 1}) {
		t.Fatalf("none: %v", got)
	}
}

func TestInvalidConstraintReason(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", cpu, gib)
	h.addService("s", 1, constraints("node.colour==red"))
	h.pass()
	for msg := range h.errsOf("s") {
		if msg == "" || msg[:len("invalid constraint")] != "invalid constraint" {
			t.Fatalf("reason %q", msg)
		}
	}
}

func TestMaxReplicasPerNode(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", cpu, gib)
	h.addNode("b", cpu, gib)
	h.addService("s", 5, maxReplicas(2))
	st := h.pass()
	if got := h.perNode("s"); !maps.Equal(got, map[string]int{"a": 2, "b": 2}) || st.Unschedulable != 1 {
		t.Fatalf("placements %v stats %+v", got, st)
	}
	if got := h.errsOf("s"); !maps.Equal(got, map[string]int{"no suitable node: 2 nodes at max replicas per node": 1}) {
		t.Fatalf("errors %v", got)
	}
}

func TestKindsAndReadiness(t *testing.T) {
	h := newHarness(t)
	h.addNode("containers", cpu, gib, kinds("container"))
	h.addNode("procs", cpu, gib, kinds("process"))
	h.addNode("down", cpu, gib, down)
	h.addService("p", 3, process)
	h.pass()
	if got := h.perNode("p"); !maps.Equal(got, map[string]int{"procs": 3}) {
		t.Fatalf("placements %v", got)
	}
}

func TestPresetNode(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", cpu, gib)
	h.addNode("b", cpu, gib)
	h.addService("g", 0, reserve(0, gib/2))
	g := h.st.Service("g")
	h.addTasks(g, 1, "a")
	h.addTasks(g, 1, "b")
	h.addTasks(g, 2, "a") // the second one of these does not fit
	st := h.pass()
	if got := h.perNode("g"); !maps.Equal(got, map[string]int{"a": 2, "b": 1}) || st.Unschedulable != 1 {
		t.Fatalf("placements %v stats %+v", got, st)
	}
}

func TestSkipsShutdownAndUnknownService(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", cpu, gib)
	h.addService("s", 2)
	tk := h.st.Tasks("s")[0]
	h.st.MustUpdate(func(tx store.Tx) error {
		x := proto.CloneOf(tx.GetTask(tk.GetId()))
		x.DesiredState = shoalv1.TaskState_TASK_STATE_SHUTDOWN
		return tx.Update(x)
	})
	h.st.MustUpdate(func(tx store.Tx) error {
		return tx.Create(&shoalv1.Task{Id: "orphan", ServiceId: "gone", DesiredState: stateRunning,
			Status: &shoalv1.TaskStatus{State: statePending}})
	})
	st := h.pass()
	if st.Assigned != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBinpackAndClusterDefault(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"a", "b", "c"} {
		h.addNode(id, 4*cpu, 8*gib)
	}
	h.st.MustUpdate(func(tx store.Tx) error {
		return tx.Create(&shoalv1.Cluster{Id: "c", Spec: &shoalv1.ClusterSpec{Name: "default", DefaultScheduler: PolicyBinpack}})
	})
	h.addService("packed", 4, reserve(cpu, gib))
	h.addService("spread", 3, policy(PolicySpread), reserve(cpu, gib))
	h.pass()
	packed := h.perNode("packed")
	if len(packed) != 1 {
		t.Fatalf("binpack used %v", packed)
	}
	// The packed node is full: spread uses the other two.
	if got := h.perNode("spread"); len(got) != 2 || got[firstKey(packed)] != 0 {
		t.Fatalf("spread used %v", got)
	}
	for _, tk := range h.st.Tasks("packed") {
		if tk.GetScheduler() != PolicyBinpack {
			t.Fatalf("scheduler %q", tk.GetScheduler())
		}
	}
}

// fakeSource serves one policy under every name.
type fakeSource struct {
	p     Policy
	err   error
	calls atomic.Int64
}

func (f *fakeSource) Policy(name string) (Policy, error) {
	if f.err != nil {
		return nil, f.err
	}
	return countingPolicy{f}, nil
}

type countingPolicy struct{ f *fakeSource }

func (c countingPolicy) Schedule(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	c.f.calls.Add(1)
	return c.f.p.Schedule(ctx, req)
}

// answer returns every task on node index i.
func answer(i int32) PolicyFunc {
	return func(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
		resp := &sdk.ScheduleResponse{}
		for _, g := range req.Groups {
			p := make([]int32, g.Count)
			for k := range p {
				p[k] = i
			}
			resp.Groups = append(resp.Groups, sdk.GroupResult{Placements: p})
		}
		return resp
	}
}

type errPolicy struct{}

func (errPolicy) Schedule(context.Context, *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	return nil, errors.New("plugin trapped")
}

func TestFallbackOnBadPolicy(t *testing.T) {
	tests := []struct {
		name string
		src  *fakeSource
	}{
		{"out of range", &fakeSource{p: answer(7)}},
		{"negative", &fakeSource{p: answer(-5)}},
		{"down node", &fakeSource{p: answer(2)}},
		{"overcommit", &fakeSource{p: answer(0)}},
		{"error", &fakeSource{p: errPolicy{}}},
		{"error field", &fakeSource{p: PolicyFunc(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse {
			return &sdk.ScheduleResponse{Error: "bad day"}
		})}},
		{"missing groups", &fakeSource{p: PolicyFunc(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse {
			return &sdk.ScheduleResponse{}
		})}},
		{"nil answer", &fakeSource{p: PolicyFunc(func(*sdk.ScheduleRequest) *sdk.ScheduleResponse { return nil })}},
		{"unknown policy", &fakeSource{err: ErrUnknownPolicy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, WithPolicySource(tt.src))
			h.addNode("a", cpu, 2*gib)
			h.addNode("b", cpu, 2*gib)
			h.addNode("c", cpu, 2*gib, down)
			h.addService("s", 4, policy("wasm-custom"), reserve(0, gib))
			st := h.pass()
			if st.Fallbacks != 1 || st.Assigned != 4 {
				t.Fatalf("stats %+v", st)
			}
			if got := h.perNode("s"); !maps.Equal(got, map[string]int{"a": 2, "b": 2}) {
				t.Fatalf("placements %v", got)
			}
			for _, tk := range h.st.Tasks("s") {
				if tk.GetScheduler() != FallbackName {
					t.Fatalf("scheduler %q, want %q", tk.GetScheduler(), FallbackName)
				}
			}
		})
	}
}

func TestCustomPolicyAccepted(t *testing.T) {
	src := &fakeSource{p: answer(1)}
	h := newHarness(t, WithPolicySource(src))
	h.addNode("a", cpu, gib)
	h.addNode("b", cpu, gib)
	h.addService("s", 3, policy("all-on-b"))
	st := h.pass()
	if st.Fallbacks != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := h.perNode("s"); !maps.Equal(got, map[string]int{"b": 3}) {
		t.Fatalf("placements %v", got)
	}
	if tk := h.st.Tasks("s")[0]; tk.GetScheduler() != "all-on-b" {
		t.Fatalf("scheduler %q", tk.GetScheduler())
	}
}

func TestNativeAlwaysAvailable(t *testing.T) {
	// A source that knows nothing still serves spread and binpack natively.
	h := newHarness(t, WithPolicySource(&fakeSource{err: ErrUnknownPolicy}))
	h.addNode("a", cpu, gib)
	h.addService("s", 1, policy(PolicyBinpack))
	if st := h.pass(); st.Fallbacks != 0 || st.Assigned != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunDebouncesIntoOnePass(t *testing.T) {
	src := &fakeSource{p: PolicyFunc(func(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
		p, _ := Native(PolicySpread)
		r, _ := p.Schedule(context.Background(), req)
		return r
	})}
	h := newHarness(t, WithPolicySource(src), WithDebounce(100*time.Millisecond))
	h.addNode("a", cpu, gib)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// Ten separate writes of pending tasks while the clock stands still.
	for i := 0; i < 10; i++ {
		h.addService(string(rune('a'+i)), 100)
	}
	h.clk.Advance(100 * time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		_ = h.st.View(func(tx store.ReadTx) error {
			n, _ = tx.Count(store.KindTask, store.ByTaskState(stateAssigned))
			return nil
		})
		if n == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 1000 assigned", n)
		}
		time.Sleep(5 * time.Millisecond)
		h.clk.Advance(100 * time.Millisecond)
	}
	if c := src.calls.Load(); c > 2 {
		t.Fatalf("%d policy calls for one burst", c)
	}
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}
