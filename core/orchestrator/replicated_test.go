package orchestrator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

const (
	failed   = shoalv1.TaskState_TASK_STATE_FAILED
	nodeUp   = shoalv1.NodeState_NODE_STATE_READY
	nodeDown = shoalv1.NodeState_NODE_STATE_DOWN
)

func TestReplicatedScaleUpAndDown(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 3, nil))
	h.step()
	if got := h.liveSlots("s"); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("slots after create: %v", got)
	}
	for _, tk := range h.tasks("s") {
		if tk.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_NEW || tk.GetDesiredState() != stateRunning ||
			tk.GetSpecVersion() != 1 || tk.GetServiceName() != "svc-s" || tk.GetSpec().GetContainer().GetImage() != "busybox" {
			t.Fatalf("bad new task %v", tk)
		}
	}
	h.step() // idempotent
	h.wantTasks("s", 3)

	h.scale("s", 5)
	h.step()
	if got := h.liveSlots("s"); !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("slots after scale up: %v", got)
	}

	// Put slots 1..5 on a node and running, then scale down to 2.
	h.addNode("n1", nodeUp, nil)
	for _, tk := range h.tasks("s") {
		h.assign(tk.GetId(), "n1")
	}
	h.scale("s", 2)
	h.step()
	if got := h.liveSlots("s"); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("slots after scale down: %v", got)
	}
	var shut []uint64
	for _, tk := range h.tasks("s") {
		if tk.GetDesiredState() == stateShutdown {
			shut = append(shut, tk.GetSlot())
		}
	}
	slices.Sort(shut)
	if !slices.Equal(shut, []uint64{3, 4, 5}) {
		t.Fatalf("shut down slots %v, want the highest 3,4,5", shut)
	}
	// Once they stop they are deleted: their slots are gone.
	for _, tk := range h.tasks("s") {
		if tk.GetSlot() > 2 {
			h.setState(tk.GetId(), stateShutdown)
		}
	}
	h.step()
	h.wantTasks("s", 2)
}

func TestScaleDownNeverAssignedDeletes(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 4, nil))
	h.step()
	h.scale("s", 1)
	h.step() // desired SHUTDOWN
	h.step() // never assigned: deleted
	h.wantTasks("s", 1)
}

func TestScaleTo10000UsesFewProposals(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 10_000, nil))
	before := h.st.ProposalCount()
	h.step()
	used := h.st.ProposalCount() - before
	if n := len(h.liveTasks("s")); n != 10_000 {
		t.Fatalf("%d live tasks", n)
	}
	t.Logf("10,000 replicas: %d proposals", used)
	if used > 12 {
		t.Fatalf("%d proposals for 10,000 creates", used)
	}
}

func TestNodeDownReplacesTasks(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.addNode("b", nodeUp, nil)
	h.createService(replicated("s", 100, nil))
	h.step()
	for _, tk := range h.tasks("s") {
		h.assign(tk.GetId(), "a")
	}
	before := h.st.ProposalCount()
	h.setNodeState("a", nodeDown)
	h.step()
	if used := h.st.ProposalCount() - before - 1; used > 2 {
		t.Fatalf("%d proposals to replace 100 tasks", used)
	}
	live := h.liveTasks("s")
	if len(live) != 100 {
		t.Fatalf("%d live", len(live))
	}
	for slot, tk := range live {
		if tk.GetNodeId() != "" || tk.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_NEW {
			t.Fatalf("slot %s: replacement %v", slot, tk)
		}
	}
	// The old tasks are shut down and kept as slot history.
	h.step()
	tasks := h.tasks("s")
	if len(tasks) != 200 {
		t.Fatalf("%d tasks, want 200 (old + new)", len(tasks))
	}
	for _, tk := range tasks {
		if tk.GetNodeId() == "a" && tk.GetDesiredState() != stateShutdown {
			t.Fatalf("task on the down node still desired %v", tk.GetDesiredState())
		}
	}
}

func TestDrainMovesTasks(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.createService(replicated("s", 3, nil))
	h.step()
	old := h.liveTasks("s")
	for _, tk := range old {
		h.assign(tk.GetId(), "a")
	}
	h.setAvailability("a", shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN)
	h.step()
	for slot, tk := range h.liveTasks("s") {
		if tk.GetId() == old[slot].GetId() || tk.GetNodeId() != "" {
			t.Fatalf("slot %s not replaced: %v", slot, tk)
		}
	}
	// The drained node's tasks stay until the agent stops them.
	for _, tk := range old {
		got := h.taskByID(tk.GetId())
		if got == nil || got.GetDesiredState() != stateShutdown {
			t.Fatalf("old task %s: %v", tk.GetId(), got)
		}
	}
}

func (h *harness) taskByID(id string) *shoalv1.Task {
	var t *shoalv1.Task
	_ = h.st.View(func(tx store.ReadTx) error { t = tx.GetTask(id); return nil })
	return t
}

func TestServiceRemoval(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.createService(replicated("s", 4, nil))
	h.step()
	ts := h.tasks("s")
	h.assign(ts[0].GetId(), "a")
	h.assign(ts[1].GetId(), "a")
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Delete(store.KindService, "s") })
	h.step()
	left := h.tasks("s")
	if len(left) != 2 {
		t.Fatalf("never-assigned tasks not deleted directly: %d left", len(left))
	}
	for _, tk := range left {
		if tk.GetDesiredState() != stateShutdown {
			t.Fatalf("running task of removed service not shut down: %v", tk)
		}
	}
	h.setState(left[0].GetId(), stateShutdown)
	h.step()
	h.wantTasks("s", 1)
	h.setState(left[1].GetId(), failed)
	h.step()
	h.wantTasks("s", 0)
}

func TestSpecUpdateReplacesAll(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 3, nil))
	h.step()
	h.editService("s", func(s *shoalv1.Service) {
		s.SpecVersion = 2
		s.Spec.Task.GetContainer().Image = "busybox:2"
	})
	h.step()
	live := h.liveTasks("s")
	if len(live) != 3 {
		t.Fatalf("%d live", len(live))
	}
	for slot, tk := range live {
		if tk.GetSpecVersion() != 2 || tk.GetSpec().GetContainer().GetImage() != "busybox:2" {
			t.Fatalf("slot %s not updated: %v", slot, tk)
		}
	}
}

func TestSpecUpdateParallelism(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	svc := replicated("s", 3, nil)
	svc.Spec.UpdateConfig.Parallelism = 1
	h.createService(svc)
	h.step()
	for _, tk := range h.tasks("s") {
		h.assign(tk.GetId(), "a")
	}
	h.editService("s", func(s *shoalv1.Service) { s.SpecVersion = 2 })
	for round := 1; round <= 3; round++ {
		h.step()
		h.step() // no progress while the new task is not running
		var updated []*shoalv1.Task
		for _, tk := range h.liveTasks("s") {
			if tk.GetSpecVersion() == 2 {
				updated = append(updated, tk)
			}
		}
		if len(updated) != round {
			t.Fatalf("round %d: %d updated", round, len(updated))
		}
		// Until the last new task runs, RUNNING events must wake the service.
		if !h.o.updating["s"] {
			t.Fatalf("round %d: not updating", round)
		}
		for _, tk := range updated {
			h.assign(tk.GetId(), "a")
		}
	}
	h.step()
	if h.o.updating["s"] || h.service("s").GetUpdateStatus().GetState() != updCompleted {
		t.Fatalf("after the last batch: updating %v, status %v", h.o.updating["s"], h.service("s").GetUpdateStatus())
	}
}

func TestHistoryLimit(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.st.MustUpdate(func(tx store.Tx) error {
		return tx.Create(&shoalv1.Cluster{Id: "c", Spec: &shoalv1.ClusterSpec{Name: "default", TaskHistoryLimit: 3}})
	})
	h.createService(replicated("s", 2, restart(shoalv1.RestartCondition_RESTART_CONDITION_ANY, 0, 0, 0)))
	h.step()
	for i := 0; i < 10; i++ {
		for _, tk := range h.liveTasks("s") {
			h.assign(tk.GetId(), "a")
			h.setState(tk.GetId(), failed)
		}
		h.step()
	}
	perSlot := map[uint64]int{}
	for _, tk := range h.tasks("s") {
		perSlot[tk.GetSlot()]++
	}
	for slot, n := range perSlot {
		if n > 3 {
			t.Fatalf("slot %d keeps %d tasks, limit 3", slot, n)
		}
	}
	if len(h.liveTasks("s")) != 2 {
		t.Fatal("slots lost their live task")
	}
}

func TestRepairsDuplicateLive(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 1, nil))
	h.step()
	dup := h.tasks("s")[0]
	dup.Id = "intruder"
	h.clk.Advance(time.Second)
	h.st.MustUpdate(func(tx store.Tx) error { dup.Meta = nil; return tx.Create(dup) })
	h.o.all = true
	if err := h.o.reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.checkSlots()
	if got := h.liveTasks("s")["1"]; got == nil || got.GetId() != "intruder" {
		t.Fatalf("kept %v, want the newest", got)
	}
}

func TestReplicasZeroAndDefaultMode(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("zero", 0, nil))
	s := replicated("def", 0, nil)
	s.Spec.Mode = nil
	h.createService(s)
	h.step()
	h.wantTasks("zero", 0)
	h.wantTasks("def", 1)
}

func BenchmarkCreate10000Replicas(b *testing.B) {
	benchPass(b, func(h *harness, i int) { h.createService(replicated(fmt.Sprint("s", i), 10_000, nil)) })
}

// benchPass times one full reconciliation pass over a fresh harness that
// setup prepared (untimed), and reports the store proposals it made.
func benchPass(b *testing.B, setup func(h *harness, i int)) {
	var proposals uint64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		h := newHarness(b)
		setup(h, i)
		before := h.st.ProposalCount()
		b.StartTimer()
		h.o.all = true
		if err := h.o.reconcile(h.ctx); err != nil {
			b.Fatal(err)
		}
		proposals = h.st.ProposalCount() - before
	}
	b.ReportMetric(float64(proposals), "proposals")
}

// A task reaching RUNNING re-plans its service only while an update waits
// on it; a task ending always does.
func TestTaskEventsThatNeedAPlan(t *testing.T) {
	task := func(s shoalv1.TaskState) *shoalv1.Task {
		return &shoalv1.Task{Id: "t", ServiceId: "s", Status: &shoalv1.TaskStatus{State: s}}
	}
	for _, tc := range []struct {
		name     string
		from, to shoalv1.TaskState
		updating bool
		dirty    bool
	}{
		{"running, no update", shoalv1.TaskState_TASK_STATE_STARTING, shoalv1.TaskState_TASK_STATE_RUNNING, false, false},
		{"running, update waiting", shoalv1.TaskState_TASK_STATE_STARTING, shoalv1.TaskState_TASK_STATE_RUNNING, true, true},
		{"failed", shoalv1.TaskState_TASK_STATE_RUNNING, failed, false, true},
		{"complete", shoalv1.TaskState_TASK_STATE_RUNNING, shoalv1.TaskState_TASK_STATE_COMPLETE, false, true},
		{"assigned", shoalv1.TaskState_TASK_STATE_PENDING, shoalv1.TaskState_TASK_STATE_ASSIGNED, true, false},
		{"same state", failed, failed, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := New(store.NewLocal())
			o.updating["s"] = tc.updating
			ev := store.Event{Kind: store.EventUpdate, ObjectKind: store.KindTask, Object: task(tc.to), Old: task(tc.from)}
			if err := o.note(ev, true); err != nil {
				t.Fatal(err)
			}
			if _, dirty := o.dirty["s"]; dirty != tc.dirty {
				t.Fatalf("dirty = %v, want %v", dirty, tc.dirty)
			}
		})
	}
}

// A task placed on a node that is down, drained or gone (the scheduler
// raced the node's loss) makes its service dirty, so it is moved; placed
// on a ready node it does not.
func TestTaskPlacedOnUnavailableNodeNeedsAPlan(t *testing.T) {
	node := func(id string, st shoalv1.NodeState, av shoalv1.NodeAvailability) *shoalv1.Node {
		return &shoalv1.Node{Id: id, Status: &shoalv1.NodeStatus{State: st}, Spec: &shoalv1.NodeSpec{Availability: av}}
	}
	stateReady, active := shoalv1.NodeState_NODE_STATE_READY, shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE
	task := func(nodeID string, s shoalv1.TaskState) *shoalv1.Task {
		return &shoalv1.Task{Id: "t", ServiceId: "s", NodeId: nodeID, Status: &shoalv1.TaskStatus{State: s}}
	}
	pending, assigned := shoalv1.TaskState_TASK_STATE_PENDING, shoalv1.TaskState_TASK_STATE_ASSIGNED
	for _, tc := range []struct {
		name  string
		node  store.Event
		dirty bool
	}{
		{"ready", store.Event{Kind: store.EventUpdate, Object: node("a", stateReady, active), Old: node("a", stateReady, active)}, false},
		{"down", store.Event{Kind: store.EventUpdate, Object: node("a", shoalv1.NodeState_NODE_STATE_DOWN, active), Old: node("a", stateReady, active)}, true},
		{"drained", store.Event{Kind: store.EventUpdate, Object: node("a", stateReady, shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN), Old: node("a", stateReady, active)}, true},
		{"removed", store.Event{Kind: store.EventRemove, Object: node("a", stateReady, active), Old: node("a", stateReady, active)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := New(store.NewLocal())
			tc.node.ObjectKind = store.KindNode
			if err := o.note(tc.node, true); err != nil {
				t.Fatal(err)
			}
			clear(o.dirty)
			o.all = false
			ev := store.Event{Kind: store.EventUpdate, ObjectKind: store.KindTask, Object: task("a", assigned), Old: task("", pending)}
			if err := o.note(ev, true); err != nil {
				t.Fatal(err)
			}
			if _, dirty := o.dirty["s"]; dirty != tc.dirty {
				t.Fatalf("dirty = %v, want %v", dirty, tc.dirty)
			}
		})
	}
}

// A task created by someone else (an earlier leader's entry that committed
// late) makes its service dirty, so a slot it doubles gets repaired; the
// orchestrator's own creates do not.
func TestForeignTaskCreateNeedsAPlan(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.createService(replicated("s", 2, nil))
	h.step()
	if len(h.o.own) != 2 {
		t.Fatalf("own creates = %d, want 2", len(h.o.own))
	}
	for _, tk := range h.tasks("s") {
		ev := store.Event{Kind: store.EventCreate, ObjectKind: store.KindTask, Object: tk}
		if err := h.o.note(ev, true); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.o.dirty) != 0 || len(h.o.own) != 0 {
		t.Fatalf("own creates: dirty %v, own %v", h.o.dirty, h.o.own)
	}
	// An earlier leader's task doubling slot 1 lands.
	intruder := h.tasks("s")[0]
	intruder.Id, intruder.Meta = "from-old-leader", nil
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Create(intruder) })
	if err := h.o.note(store.Event{Kind: store.EventCreate, ObjectKind: store.KindTask, Object: intruder}, true); err != nil {
		t.Fatal(err)
	}
	if _, dirty := h.o.dirty["s"]; !dirty {
		t.Fatal("a foreign create did not make the service dirty")
	}
	if err := h.o.reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.checkSlots()
}

func TestForceUpdateCounterReplacesTasks(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(s *shoalv1.Service)
		replaced bool
	}{
		{"counter raised", func(s *shoalv1.Service) { s.Spec.Task.ForceUpdate++ }, true},
		{"counter raised with a new spec version", func(s *shoalv1.Service) { s.Spec.Task.ForceUpdate++; s.SpecVersion++ }, true},
		{"service labels changed", func(s *shoalv1.Service) { s.Spec.Labels = map[string]string{"team": "a"} }, false},
		{"nothing changed", func(*shoalv1.Service) {}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.createService(replicated("s", 3, nil))
			h.step()
			before := h.liveTasks("s")
			h.editService("s", tc.edit)
			h.step()
			after := h.liveTasks("s")
			if len(after) != 3 {
				t.Fatalf("%d live tasks, want 3", len(after))
			}
			for slot, tk := range after {
				if got := tk.GetId() != before[slot].GetId(); got != tc.replaced {
					t.Errorf("slot %s: replaced = %v, want %v (task %s, was %s)", slot, got, tc.replaced, tk.GetId(), before[slot].GetId())
				}
			}
		})
	}
}

// TestNewTasksShareTheServiceTaskSpec: a created task holds the service's
// TaskSpec object itself, not a copy (stored objects are immutable; a copy
// per task was ~0.9 KiB of every leader's and follower's heap per task).
func TestNewTasksShareTheServiceTaskSpec(t *testing.T) {
	h := newHarness(t)
	h.createService(replicated("s", 3, nil))
	h.step()
	var svc *shoalv1.Service
	var tasks []*shoalv1.Task
	if err := h.st.View(func(tx store.ReadTx) (err error) {
		svc = tx.GetService("s")
		tasks, err = tx.FindTasks(store.ByService("s")) // the stored objects, not copies
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 {
		t.Fatalf("%d tasks, want 3", len(tasks))
	}
	for _, tk := range tasks {
		if tk.GetSpec() == nil || tk.GetSpec() != svc.GetSpec().GetTask() {
			t.Fatalf("task %s holds a copy of the service's TaskSpec, not the shared one", tk.GetId())
		}
	}
}
