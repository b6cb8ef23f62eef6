package store

import (
	"bytes"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// CaptureSnapshot's function marshals the state as of the capture, byte
// for byte what Snapshot returned then, whatever was written since.
func TestCaptureSnapshotIsTheStateAtCapture(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, node("n1", "h1", shoalv1.NodeRole_NODE_ROLE_WORKER, shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE),
		service("s1", "web"), task("t2", "s1", 2, "n1"), task("t1", "s1", 1, "n1"))
	want, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	marshal := s.CaptureSnapshot()
	mustUpdate(t, s, func(tx Tx) error {
		if err := tx.Create(task("t3", "s1", 3, "n1")); err != nil {
			return err
		}
		return tx.Delete(KindTask, "t1")
	})
	got, err := marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("captured snapshot (%d bytes) differs from the snapshot at capture (%d bytes)", len(got), len(want))
	}
	restored := newTestStore(t)
	if err := restored.Restore(1, got); err != nil {
		t.Fatal(err)
	}
	_ = restored.View(func(tx ReadTx) error {
		if tx.GetTask("t1") == nil || tx.GetTask("t3") != nil {
			t.Errorf("restored capture has t1 %v, t3 %v; want t1 only", tx.GetTask("t1") != nil, tx.GetTask("t3") != nil)
		}
		return nil
	})
}
