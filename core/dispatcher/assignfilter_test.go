package dispatcher

import (
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
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

// TestAssignmentChangesAreBatched: the changes of several entries within
// AssignmentBatch of the first reach the node in one message, sent when
// the batch time is up, not before.
func TestAssignmentChangesAreBatched(t *testing.T) {
	h := newHarness(t, Config{AssignmentBatch: 100 * time.Millisecond})
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	as, err := c.Assignments(h.ctx, connect.NewRequest(&shoalv1.AssignmentsRequest{SessionId: first.GetSessionId()}))
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	if !as.Receive() || as.Msg().GetType() != shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_COMPLETE {
		t.Fatalf("first message: %v %v", as.Msg(), as.Err())
	}
	got := make(chan *shoalv1.AssignmentsMessage, 4)
	go func() {
		for as.Receive() {
			got <- as.Msg()
		}
		close(got)
	}()
	for _, id := range []string{"t1", "t2", "t3"} { // three entries
		h.createTasks(newTask(id, "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING))
	}
	select {
	case m := <-got:
		t.Fatalf("sent before the batch time was up: %v", m)
	case <-time.After(200 * time.Millisecond): // real time: the stream had its chance
	}
	h.clock.Advance(100 * time.Millisecond)
	select {
	case m := <-got:
		if ids := taskIDs(m.GetUpdates()); !slices.Equal(ids, []string{"t1", "t2", "t3"}) || m.GetSequence() != 2 {
			t.Fatalf("batch = %v (sequence %d), want t1, t2, t3 in one message", ids, m.GetSequence())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message after the batch time")
	}
}
