package dispatcher

import (
	"testing"

	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"

	"github.com/shoal-project/shoal/core/store"
)

// TestChangesForAgentDropsOnlyEchoes: the store drops, before waking a
// node's assignment stream, only the task updates that cannot change what
// the node is sent.
func TestChangesForAgentDropsOnlyEchoes(t *testing.T) {
	const (
		assigned = shoalv1.TaskState_TASK_STATE_ASSIGNED
		running  = shoalv1.TaskState_TASK_STATE_RUNNING
		pending  = shoalv1.TaskState_TASK_STATE_PENDING
		remove   = shoalv1.TaskState_TASK_STATE_REMOVE
	)
	base := newTask("t1", "n1", assigned, running)
	with := func(f func(*shoalv1.Task)) *shoalv1.Task {
		c := proto.Clone(base).(*shoalv1.Task)
		f(c)
		return c
	}
	update := func(old, t *shoalv1.Task) store.Event {
		return store.Event{Kind: store.EventUpdate, ObjectKind: store.KindTask, Object: t, Old: old}
	}
	for _, tc := range []struct {
		name string
		ev   store.Event
		want bool
	}{
		{"status reported by the agent", update(base, with(func(t *shoalv1.Task) { t.Status = status(running, "started") })), false},
		{"status of a task not yet in the set", update(with(func(t *shoalv1.Task) { t.Status = status(pending, "") }), with(func(t *shoalv1.Task) { t.Status = status(pending, "again") })), false},
		{"enters the set (assigned)", update(with(func(t *shoalv1.Task) { t.Status = status(pending, "") }), base), true},
		{"to be removed", update(base, with(func(t *shoalv1.Task) { t.DesiredState = remove })), true},
		{"moved to another node", update(base, with(func(t *shoalv1.Task) { t.NodeId = "n2" })), true},
		{"new spec version", update(base, with(func(t *shoalv1.Task) { t.SpecVersion = 7 })), true},
		{"created", store.Event{Kind: store.EventCreate, ObjectKind: store.KindTask, Object: base}, true},
		{"removed", store.Event{Kind: store.EventRemove, ObjectKind: store.KindTask, Object: base, Old: base}, true},
		{"the node itself", store.Event{Kind: store.EventUpdate, ObjectKind: store.KindNode, Object: &shoalv1.Node{Id: "n1"}, Old: &shoalv1.Node{Id: "n1"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := changesForAgent("n1")(tc.ev); got != tc.want {
				t.Fatalf("changesForAgent = %v, want %v", got, tc.want)
			}
		})
	}
}
