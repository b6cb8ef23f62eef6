package orchestrator

import (
	"slices"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestGlobalFollowsNodes(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, map[string]string{"zone": "x"})
	h.addNode("b", nodeUp, map[string]string{"zone": "y"})
	h.addNode("c", nodeDown, nil)
	h.addNode("d", nodeUp, nil)
	h.setAvailability("d", shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN)
	h.createService(global("g"))
	h.step()
	if got := h.liveSlots("g"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("global tasks on %v, want a b", got)
	}
	for _, tk := range h.tasks("g") {
		if tk.GetSlot() != 0 || tk.GetDesiredState() != stateRunning {
			t.Fatalf("bad global task %v", tk)
		}
	}

	// c comes up, d is activated, e joins.
	h.setNodeState("c", nodeUp)
	h.setAvailability("d", shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE)
	h.addNode("e", nodeUp, nil)
	h.step()
	if got := h.liveSlots("g"); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("global tasks on %v", got)
	}

	// a goes down, b is drained, e leaves the cluster, c is paused (keeps its task).
	for _, tk := range h.liveTasks("g") {
		h.assign(tk.GetId(), tk.GetNodeId())
	}
	h.setNodeState("a", nodeDown)
	h.setAvailability("b", shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN)
	h.setAvailability("c", shoalv1.NodeAvailability_NODE_AVAILABILITY_PAUSE)
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Delete(store.KindNode, "e") })
	h.step()
	if got := h.liveSlots("g"); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("global tasks on %v, want c d", got)
	}
	// Tasks on gone or down nodes are deleted once not live.
	h.step()
	for _, tk := range h.tasks("g") {
		if tk.GetNodeId() == "e" || tk.GetNodeId() == "a" {
			t.Fatalf("task on lost node kept: %v", tk)
		}
	}
}

func TestGlobalConstraints(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, map[string]string{"zone": "x"})
	h.addNode("b", nodeUp, map[string]string{"zone": "y"})
	h.createService(global("g", "node.labels.zone==x"))
	h.step()
	if got := h.liveSlots("g"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("tasks on %v, want a", got)
	}
	// Labels change: the task follows.
	h.editNode("a", func(n *shoalv1.Node) { n.Spec.Labels["zone"] = "y" })
	h.editNode("b", func(n *shoalv1.Node) { n.Spec.Labels["zone"] = "x" })
	h.step()
	if got := h.liveSlots("g"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("tasks on %v, want b", got)
	}
}

func TestGlobalKind(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.addNode("b", nodeUp, nil)
	h.editNode("b", func(n *shoalv1.Node) { n.Description.Kinds = []string{"container"} })
	h.createService(global("g")) // a process service
	h.step()
	if got := h.liveSlots("g"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("tasks on %v, want a", got)
	}
}

func TestGlobalRestart(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", nodeUp, nil)
	h.createService(global("g"))
	h.step()
	first := h.liveTasks("g")["a"]
	h.assign(first.GetId(), "a")
	h.setState(first.GetId(), failed)
	h.step()
	r := h.liveTasks("g")["a"]
	if r == nil || r.GetId() == first.GetId() || r.GetNodeId() != "a" {
		t.Fatalf("no replacement on a: %v", r)
	}
}
