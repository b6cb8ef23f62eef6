package store

import (
	"context"
	"errors"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The leader's own entry is applied from the objects the writer handed
// over: no decode of the payload, no clone on put or on read.
func TestOwnEntryStoresTheObjectsHandedOver(t *testing.T) {
	s := newTestStore(t)
	created := task("t1", "s1", 1, "")
	createAll(t, s, created)
	var read *shoalv1.Task
	_ = s.View(func(tx ReadTx) error { read = tx.GetTask("t1"); return nil })
	if read != created {
		t.Fatalf("the stored task is not the one handed to Create (decoded or cloned on the way)")
	}
	updated := proto.CloneOf(read)
	updated.NodeId = "n1"
	mustUpdate(t, s, func(tx Tx) error { return tx.Update(updated) })
	_ = s.View(func(tx ReadTx) error { read = tx.GetTask("t1"); return nil })
	if read != updated || read.GetMeta().GetVersion() != 2 {
		t.Fatalf("stored %p v%d, want the updated object %p at v2", read, read.GetMeta().GetVersion(), updated)
	}
}

// A follower (or a replay) decodes the same payload to the same state.
func TestApplyDecodedAndApplyAgree(t *testing.T) {
	leader, rp := newRecordingStore(t)
	createAll(t, leader, task("t1", "s1", 1, ""), service("s1", "web"))
	mustUpdate(t, leader, func(tx Tx) error {
		t1 := proto.CloneOf(tx.GetTask("t1"))
		t1.NodeId = "n1"
		return tx.Update(t1)
	})
	follower := New(nil, WithMutationCheck(true))
	for i, p := range rp.payloads {
		if err := follower.Apply(uint64(i+1), p); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := leader.Snapshot()
	b, _ := follower.Snapshot()
	if string(a) != string(b) {
		t.Fatalf("leader and follower differ:\n%s\nvs\n%s", leader.dump(), follower.dump())
	}
}

func TestUpdateOfTheObjectAReadReturnedIsRefused(t *testing.T) {
	s := newTestStore(t)
	createAll(t, s, task("t1", "s1", 1, ""))
	err := s.Update(context.Background(), func(tx Tx) error { return tx.Update(tx.GetTask("t1")) })
	if !errors.Is(err, ErrInvalidObject) {
		t.Fatalf("update with the shared object: %v, want ErrInvalidObject", err)
	}
	if got := s.dump(); got != "task t1 v1\n" {
		t.Fatalf("state = %q", got)
	}
}

func TestMutationCheckCatchesAnInPlaceChange(t *testing.T) {
	for _, on := range []bool{true, false} {
		s := New(nil, WithMutationCheck(on))
		mp := NewMemoryProposer()
		s.proposer = mp
		mp.Bind(s)
		createAll(t, s, task("t1", "s1", 1, ""), task("t2", "s1", 2, ""))
		if err := s.VerifyUnchanged(); err != nil {
			t.Fatalf("before any change: %v", err)
		}
		_ = s.View(func(tx ReadTx) error {
			tx.GetTask("t1").NodeId = "n9" // the bug the check is for
			return nil
		})
		err := s.VerifyUnchanged()
		if on && !errors.Is(err, ErrMutated) {
			t.Fatalf("check on: VerifyUnchanged = %v, want ErrMutated", err)
		}
		if !on && err != nil {
			t.Fatalf("check off: VerifyUnchanged = %v", err)
		}
	}
}

// The check also notices a changed object when the store replaces it, even
// if it is gone before anyone calls VerifyUnchanged.
func TestMutationCheckCatchesAChangeOfAReplacedObject(t *testing.T) {
	s := New(nil, WithMutationCheck(true))
	mp := NewMemoryProposer()
	s.proposer = mp
	mp.Bind(s)
	createAll(t, s, task("t1", "s1", 1, ""))
	var shared *shoalv1.Task
	_ = s.View(func(tx ReadTx) error { shared = tx.GetTask("t1"); return nil })
	shared.Slot = 7
	mustUpdate(t, s, func(tx Tx) error { return tx.Delete(KindTask, "t1") })
	if err := s.VerifyUnchanged(); !errors.Is(err, ErrMutated) {
		t.Fatalf("VerifyUnchanged = %v, want ErrMutated", err)
	}
}

func TestShallowCopySharesSubMessagesAndCopiesScalars(t *testing.T) {
	orig := task("t1", "s1", 1, "n1")
	orig.Spec = &shoalv1.TaskSpec{}
	cp := ShallowCopy(orig)
	if cp == orig || !proto.Equal(cp, orig) {
		t.Fatalf("copy %v of %v", cp, orig)
	}
	if cp.Spec != orig.Spec || cp.Status != orig.Status {
		t.Fatal("sub-messages not shared")
	}
	cp.NodeId = "n2"
	if orig.NodeId != "n1" {
		t.Fatal("a scalar of the copy changed the original")
	}
	var nilTask *shoalv1.Task
	if ShallowCopy(nilTask) != nil {
		t.Fatal("copy of nil")
	}
}

// Every field of a Task survives ShallowCopy's fast path: a field added to
// Task fails here until copyTask (and taskFields) learn it.
func TestShallowCopyOfATaskCopiesEveryField(t *testing.T) {
	if !fastTaskCopy {
		t.Fatalf("Task has %d fields, copyTask copies %d: teach copyTask the new ones",
			(&shoalv1.Task{}).ProtoReflect().Descriptor().Fields().Len(), taskFields)
	}
	orig := &shoalv1.Task{}
	m := orig.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			l.Append(l.NewElement())
		case fd.IsMap():
			t.Fatalf("field %s: a map; extend this test", fd.Name())
		case fd.Message() != nil:
			m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		default:
			t.Fatalf("field %s: kind %v; extend this test", fd.Name(), fd.Kind())
		}
	}
	cp := ShallowCopy(orig)
	for i := range fields.Len() {
		if fd := fields.Get(i); !cp.ProtoReflect().Has(fd) {
			t.Errorf("field %s not copied", fd.Name())
		}
	}
	if !proto.Equal(cp, orig) {
		t.Fatalf("copy %v differs from %v", cp, orig)
	}
}
