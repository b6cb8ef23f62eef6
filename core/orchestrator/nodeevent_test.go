package orchestrator

import (
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// A node event re-plans only what it can change: the services with tasks
// on that node and the global services, not every replicated service.
func TestNodeEventPlansOnlyWhatItCanChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		node    string
		state   shoalv1.NodeState
		planned int
		moved   string // a service whose task on the node must be replaced
	}{
		{"a node with tasks goes down", "n1", nodeDown, 2, "a"},         // a and g
		{"a new node without tasks becomes ready", "n9", nodeUp, 1, ""}, // g only
		{"a node with only a removed service's task goes down", "n3", nodeDown, 2, ""},
		// Its tasks stay where they are: only the global service follows.
		{"a node with tasks loses its session", "n1", nodeDisconnected, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for _, n := range []string{"n1", "n2", "n3", "n9"} {
				h.addNode(n, nodeUp, nil)
			}
			h.setNodeState("n9", nodeDown)
			for _, s := range []string{"a", "b", "c", "gone"} {
				h.createService(replicated(s, 2, nil))
			}
			h.createService(global("g"))
			h.step()
			for _, tk := range h.tasks("a") {
				h.assign(tk.GetId(), "n1")
			}
			for _, tk := range h.tasks("b") {
				h.assign(tk.GetId(), "n2")
			}
			for _, tk := range h.tasks("gone") {
				h.assign(tk.GetId(), "n3")
			}
			h.st.MustUpdate(func(tx store.Tx) error { return tx.Delete(store.KindService, "gone") })
			h.step()
			before := h.liveTasks(tc.moved)

			old := proto.CloneOf(h.node(tc.node))
			h.setNodeState(tc.node, tc.state)
			ev := store.Event{Kind: store.EventUpdate, ObjectKind: store.KindNode, Object: h.node(tc.node), Old: old}
			if err := h.o.note(ev, true); err != nil {
				t.Fatal(err)
			}
			if err := h.o.reconcile(h.ctx); err != nil {
				t.Fatal(err)
			}
			h.checkSlots()
			if h.o.planned != tc.planned {
				t.Fatalf("planned %d services, want %d", h.o.planned, tc.planned)
			}
			if tc.moved != "" {
				for slot, tk := range h.liveTasks(tc.moved) {
					if tk.GetId() == before[slot].GetId() {
						t.Errorf("slot %s of %s kept its task on the down node", slot, tc.moved)
					}
				}
			}
			if tc.moved == "" && tc.node == "n1" {
				for slot, tk := range h.liveTasks("a") {
					if tk.GetNodeId() != "n1" {
						t.Errorf("slot %s of a moved off %s", slot, tc.node)
					}
				}
			}
			_, onNode := h.liveTasks("g")[tc.node]
			if want := tc.state == nodeUp; onNode != want {
				t.Errorf("global service has a live task on %s: %v, want %v", tc.node, onNode, want)
			}
		})
	}
}

const nodeDisconnected = shoalv1.NodeState_NODE_STATE_DISCONNECTED

func (h *harness) node(id string) *shoalv1.Node {
	var n *shoalv1.Node
	_ = h.st.View(func(tx store.ReadTx) error { n = tx.GetNode(id); return nil })
	return n
}

// BenchmarkReplan100kTasks times the pass a node event makes on a service
// whose 100,000 tasks all run (nothing to write): the cost of planning one
// big service.
func BenchmarkReplan100kTasks(b *testing.B) {
	h := newHarness(b)
	h.addNode("n1", nodeUp, nil)
	h.createService(replicated("s", 100_000, nil))
	h.step()
	h.st.MustUpdate(func(tx store.Tx) error {
		for _, tk := range h.st.Tasks("s") {
			tk = proto.CloneOf(tk)
			tk.NodeId, tk.Status.State = "n1", shoalv1.TaskState_TASK_STATE_RUNNING
			if err := tx.Update(tk); err != nil {
				return err
			}
		}
		return nil
	})
	for b.Loop() {
		h.o.nodes["n1"] = true // as when it went down
		if err := h.o.reconcile(h.ctx); err != nil {
			b.Fatal(err)
		}
	}
	if h.o.planned != 1 {
		b.Fatalf("planned %d services, want 1", h.o.planned)
	}
}
