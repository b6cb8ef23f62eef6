package orchestrator

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// moveHarness is a 3-replica service running on nodes a, a, b with node c
// empty, and slot 1's task asked to move to c.
func moveHarness(t *testing.T) (h *harness, old *shoalv1.Task) {
	t.Helper()
	h = newHarness(t)
	for _, n := range []string{"a", "b", "c"} {
		h.addNode(n, shoalv1.NodeState_NODE_STATE_READY, nil)
	}
	h.createService(replicated("s", 3, nil))
	h.step()
	for i, n := range []string{"a", "a", "b"} {
		h.assign(h.tasks("s")[i].GetId(), n)
	}
	old = h.liveTasks("s")["1"]
	h.st.MustUpdate(func(tx store.Tx) error {
		tk := proto.CloneOf(tx.GetTask(old.GetId()))
		tk.RebalanceTarget = "c"
		return tx.Update(tk)
	})
	h.step()
	return h, old
}

// moveReplacement returns the task made to move old, or nil.
func (h *harness) moveReplacement(old *shoalv1.Task) *shoalv1.Task {
	var out *shoalv1.Task
	for _, tk := range h.tasks("s") {
		if tk.GetRebalanceFrom() == old.GetId() {
			if out != nil {
				h.t.Fatalf("two replacements for %s: %s and %s", old.GetId(), out.GetId(), tk.GetId())
			}
			out = tk
		}
	}
	return out
}

func (h *harness) running(service string) int {
	n := 0
	for _, tk := range h.tasks(service) {
		if live(tk) && tk.GetStatus().GetState() == stateRunning {
			n++
		}
	}
	return n
}

func TestMoveStartsTheReplacementOnTheTargetBeforeStoppingTheOldTask(t *testing.T) {
	h, old := moveHarness(t)
	nw := h.moveReplacement(old)
	if nw == nil || nw.GetNodeId() != "c" || nw.GetSlot() != 1 || nw.GetDesiredState() != stateRunning {
		t.Fatalf("replacement = %v, want slot 1 pinned to c, desired RUNNING", nw)
	}
	h.step() // nothing changes until it runs: no second replacement, the old task serves
	h.moveReplacement(old)
	if got := h.task(old.GetId()).GetDesiredState(); got != stateRunning || h.running("s") != 3 {
		t.Fatalf("before the replacement runs: old desired %v, %d running (want RUNNING, 3)", got, h.running("s"))
	}
	h.setState(nw.GetId(), stateRunning)
	if h.running("s") != 4 {
		t.Fatalf("%d running with the replacement up, want 4", h.running("s"))
	}
	h.step()
	if got := h.task(old.GetId()).GetDesiredState(); got != stateShutdown {
		t.Fatalf("after the replacement runs: old desired %v, want SHUTDOWN", got)
	}
	if h.running("s") != 3 || h.liveTasks("s")["1"].GetNodeId() != "c" {
		t.Fatalf("slot 1 now %v; %d running", h.liveTasks("s")["1"], h.running("s"))
	}
}

func TestMoveWhoseReplacementFailsLeavesTheOldTaskAndIsNotRetried(t *testing.T) {
	h, old := moveHarness(t)
	nw := h.moveReplacement(old)
	h.setState(nw.GetId(), shoalv1.TaskState_TASK_STATE_FAILED)
	h.step()
	h.step()
	if got := h.task(old.GetId()).GetDesiredState(); got != stateRunning {
		t.Fatalf("old task desired %v after its replacement failed, want RUNNING", got)
	}
	if got := h.task(nw.GetId()).GetDesiredState(); got != stateShutdown {
		t.Fatalf("failed replacement desired %v, want SHUTDOWN", got)
	}
	h.moveReplacement(old) // fails the test on a second replacement
	if len(h.liveTasks("s")) != 3 {
		t.Fatalf("live slots %v", h.liveSlots("s"))
	}
}

func TestMoveToANodeThatGoesDownIsAbandoned(t *testing.T) {
	h, old := moveHarness(t)
	nw := h.moveReplacement(old)
	h.setNodeState("c", shoalv1.NodeState_NODE_STATE_DOWN)
	h.step()
	if got := h.task(nw.GetId()).GetDesiredState(); got != stateShutdown {
		t.Fatalf("replacement on the DOWN target desired %v, want SHUTDOWN", got)
	}
	if got := h.task(old.GetId()).GetDesiredState(); got != stateRunning || h.running("s") != 3 {
		t.Fatalf("old task desired %v, %d running; want RUNNING, 3", got, h.running("s"))
	}
}

func (h *harness) task(id string) *shoalv1.Task {
	var out *shoalv1.Task
	_ = h.st.View(func(tx store.ReadTx) error { out = tx.GetTask(id); return nil })
	return out
}

func TestAMoveAskedAgainAfterAFailedOneMakesANewReplacement(t *testing.T) {
	h, old := moveHarness(t)
	first := h.moveReplacement(old)
	h.setState(first.GetId(), shoalv1.TaskState_TASK_STATE_FAILED)
	h.step()
	// The rebalancer clears the mark, and sets it again later.
	for _, target := range []string{"", "c"} {
		h.clk.Advance(time.Minute)
		h.st.MustUpdate(func(tx store.Tx) error {
			tk := proto.CloneOf(tx.GetTask(old.GetId()))
			tk.RebalanceTarget = target
			return tx.Update(tk)
		})
		h.step()
	}
	n := 0
	for _, tk := range h.tasks("s") {
		if tk.GetRebalanceFrom() == old.GetId() {
			n++
			if tk.GetId() != first.GetId() && (!live(tk) || tk.GetNodeId() != "c") {
				t.Fatalf("second replacement %v, want live on c", tk)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d replacements for %s, want 2 (the failed one and a new one)", n, old.GetId())
	}
}
