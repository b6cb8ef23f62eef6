package store

import (
	"bytes"
	"context"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// replayed returns a store that applied, by decoding them, the entries rec
// recorded: what a follower holds.
func replayed(t *testing.T, rec *payloadRecorder) *Store {
	t.Helper()
	f := newTestStore(t)
	for i, p := range rec.payloads {
		if err := f.Apply(uint64(i+1), p); err != nil {
			t.Fatalf("replay entry %d: %v", i+1, err)
		}
	}
	return f
}

// sameState fails unless s and want hold the same objects, field by field
// (their deterministic snapshots are equal).
func sameState(t *testing.T, name string, s, want *Store) {
	t.Helper()
	got, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, w) {
		t.Fatalf("%s: state differs from the leader's", name)
	}
}

func storedTasks(t *testing.T, s *Store) []*shoalv1.Task {
	t.Helper()
	var out []*shoalv1.Task
	if err := s.View(func(tx ReadTx) (err error) { out, err = tx.FindTasks(All()); return err }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDecodedTasksShareTheirServiceSpec: a follower's decoded tasks of one
// service hold one TaskSpec object, through creates and status updates, and
// the follower's state is the leader's.
func TestDecodedTasksShareTheirServiceSpec(t *testing.T) {
	rec := &payloadRecorder{record: true}
	leader := New(rec, WithClock(fixedClock()), WithMutationCheck(true))
	rec.Bind(leader)
	memLifecycle(t, leader, memService("s1"), 50, 7)
	f := replayed(t, rec)
	sameState(t, "follower", f, leader)
	tasks := storedTasks(t, f)
	if len(tasks) != 50 {
		t.Fatalf("%d tasks, want 50", len(tasks))
	}
	for _, tk := range tasks {
		if tk.GetSpec() != tasks[0].GetSpec() {
			t.Fatalf("task %s holds its own copy of the spec", tk.GetId())
		}
		if tk.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_RUNNING {
			t.Fatalf("task %s not RUNNING: %v", tk.GetId(), tk.GetStatus())
		}
	}
	verifyUnchanged(t, leader)
}

// TestDecodedTaskWithADifferentSpecKeepsItsOwn: only an identical spec is
// shared; a task of the same service and spec version whose spec differs
// keeps it, on a follower and after a snapshot restore.
func TestDecodedTaskWithADifferentSpecKeepsItsOwn(t *testing.T) {
	rec := &payloadRecorder{record: true}
	leader := New(rec, WithClock(fixedClock()), WithMutationCheck(true))
	rec.Bind(leader)
	svc := memService("s1")
	memLifecycle(t, leader, svc, 3, 2)
	odd := &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "other:1"}}}
	if err := leader.Update(context.Background(), func(tx Tx) error {
		return tx.Create(&shoalv1.Task{Id: "odd", ServiceId: "s1", Slot: 9, Spec: odd, SpecVersion: svc.GetSpecVersion()})
	}); err != nil {
		t.Fatal(err)
	}
	snap, index, err := leader.SnapshotWithIndex()
	if err != nil {
		t.Fatal(err)
	}
	restored := newTestStore(t)
	if err := restored.Restore(index, snap); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Store{"follower": replayed(t, rec), "restored": restored} {
		sameState(t, name, s, leader)
		var shared *shoalv1.TaskSpec
		for _, tk := range storedTasks(t, s) {
			switch {
			case tk.GetId() == "odd":
				if tk.GetSpec().GetContainer().GetImage() != "other:1" {
					t.Fatalf("%s: odd task's spec replaced: %v", name, tk.GetSpec())
				}
			case shared == nil:
				shared = tk.GetSpec()
			case tk.GetSpec() != shared:
				t.Fatalf("%s: task %s holds its own copy of the spec", name, tk.GetId())
			}
		}
	}
}
