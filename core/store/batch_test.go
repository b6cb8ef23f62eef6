package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// recordingProposer applies through a MemoryProposer and records payloads.
type recordingProposer struct {
	mp       *MemoryProposer
	payloads [][]byte
	fail     error
}

func (r *recordingProposer) Propose(ctx context.Context, payload []byte) error {
	if r.fail != nil {
		return r.fail
	}
	r.payloads = append(r.payloads, payload)
	return r.mp.Propose(ctx, payload)
}

// ProposeDecoded records like Propose and applies the in-memory request, as
// core/raft does on the leader; replaying payloads elsewhere decodes them.
func (r *recordingProposer) ProposeDecoded(ctx context.Context, payload []byte, decoded any) error {
	if r.fail != nil {
		return r.fail
	}
	r.payloads = append(r.payloads, payload)
	return r.mp.ProposeDecoded(ctx, payload, decoded)
}

func newRecordingStore(t interface{ Cleanup(func()) }, opts ...Option) (*Store, *recordingProposer) {
	rp := &recordingProposer{mp: NewMemoryProposer()}
	s := New(rp, append([]Option{WithClock(fixedClock()), WithMutationCheck(true)}, opts...)...)
	rp.mp.Bind(s)
	t.Cleanup(func() { verifyUnchanged(t, s); s.Close() })
	return s, rp
}

func actionsIn(t testing.TB, payload []byte) int {
	var req shoalv1.StoreRequest
	if err := proto.Unmarshal(payload, &req); err != nil {
		t.Fatal(err)
	}
	return len(req.Actions)
}

func TestBatchFlushesByCount(t *testing.T) {
	s, rp := newRecordingStore(t, WithMaxChangesPerProposal(1000))
	err := s.Batch(context.Background(), func(b *Batch) error {
		for i := range 2500 {
			if err := b.Update(func(tx Tx) error {
				return tx.Create(task(fmt.Sprintf("t%05d", i), "s1", uint64(i+1), ""))
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ProposalCount(); got != 3 {
		t.Fatalf("proposals = %d, want 3", got)
	}
	want := []int{1000, 1000, 500}
	for i, p := range rp.payloads {
		if n := actionsIn(t, p); n != want[i] {
			t.Errorf("proposal %d has %d actions, want %d", i, n, want[i])
		}
	}
	_ = s.View(func(tx ReadTx) error {
		if n, _ := tx.Count(KindTask, ByService("s1")); n != 2500 {
			t.Errorf("tasks = %d", n)
		}
		return nil
	})
}

func TestBatchFlushesByBytes(t *testing.T) {
	const limit = 4096
	s, rp := newRecordingStore(t, WithMaxProposalBytes(limit))
	big := func(i int) *shoalv1.Task {
		tk := task(fmt.Sprintf("t%03d", i), "s1", uint64(i), "")
		tk.Spec = &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{
			Command: []string{string(make([]byte, 500))},
		}}}
		return tk
	}
	err := s.Batch(context.Background(), func(b *Batch) error {
		for i := range 40 {
			if err := b.Update(func(tx Tx) error { return tx.Create(big(i)) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.payloads) < 4 {
		t.Fatalf("only %d proposals for ~20 KiB with a 4 KiB limit", len(rp.payloads))
	}
	total := 0
	for i, p := range rp.payloads {
		total += actionsIn(t, p)
		// At most one b.Update (~560 bytes) beyond the limit.
		if len(p) > limit+1024 {
			t.Errorf("proposal %d is %d bytes", i, len(p))
		}
	}
	if total != 40 {
		t.Fatalf("actions = %d", total)
	}
}

func TestBatchNeverSplitsOneUpdate(t *testing.T) {
	s, rp := newRecordingStore(t, WithMaxChangesPerProposal(10))
	err := s.Batch(context.Background(), func(b *Batch) error {
		if err := b.Update(func(tx Tx) error { return tx.Create(task("first", "s", 1, "")) }); err != nil {
			return err
		}
		return b.Update(func(tx Tx) error {
			for i := range 25 {
				if err := tx.Create(task(fmt.Sprintf("t%02d", i), "s", uint64(i), "")); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.payloads) != 1 || actionsIn(t, rp.payloads[0]) != 26 {
		t.Fatalf("payloads=%d", len(rp.payloads))
	}
}

func TestBatchUpdateErrorDropsOnlyThatUpdate(t *testing.T) {
	s, _ := newRecordingStore(t)
	createAll(t, s, task("exists", "s", 1, ""))
	var errs []error
	err := s.Batch(context.Background(), func(b *Batch) error {
		errs = append(errs,
			b.Update(func(tx Tx) error { return tx.Create(task("a", "s", 2, "")) }),
			// Partial changes of a failing update are dropped.
			b.Update(func(tx Tx) error {
				if err := tx.Create(task("b", "s", 3, "")); err != nil {
					return err
				}
				return tx.Create(task("exists", "s", 4, ""))
			}),
			// Later updates see earlier pending ones.
			b.Update(func(tx Tx) error {
				if tx.GetTask("a") == nil {
					return errors.New("pending create not visible")
				}
				return tx.Create(task("a", "s", 5, ""))
			}),
			b.Update(func(tx Tx) error {
				a := proto.CloneOf(tx.GetTask("a"))
				a.NodeId = "n1"
				return tx.Update(a)
			}),
		)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], ErrExist) || !errors.Is(errs[2], ErrExist) || errs[3] != nil {
		t.Fatalf("errs = %v", errs)
	}
	_ = s.View(func(tx ReadTx) error {
		all, _ := tx.FindTasks(All())
		if ids(all) != "a,exists" {
			t.Errorf("tasks = %s", ids(all))
		}
		if tx.GetTask("a").NodeId != "n1" {
			t.Errorf("update of pending create lost")
		}
		return nil
	})
}

func TestBatchFnErrorDropsUnflushed(t *testing.T) {
	s, _ := newRecordingStore(t, WithMaxChangesPerProposal(2))
	boom := errors.New("boom")
	err := s.Batch(context.Background(), func(b *Batch) error {
		for i := range 3 {
			_ = b.Update(func(tx Tx) error { return tx.Create(task(fmt.Sprintf("t%d", i), "s", 1, "")) })
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	_ = s.View(func(tx ReadTx) error {
		all, _ := tx.FindTasks(All())
		if ids(all) != "t0,t1" { // first flush committed, third dropped
			t.Errorf("tasks = %s", ids(all))
		}
		return nil
	})
}

func TestBatchFlushErrorIsSticky(t *testing.T) {
	s, rp := newRecordingStore(t, WithMaxChangesPerProposal(1))
	rp.fail = errors.New("not leader")
	var errs []error
	err := s.Batch(context.Background(), func(b *Batch) error {
		for i := range 3 {
			errs = append(errs, b.Update(func(tx Tx) error { return tx.Create(task(fmt.Sprintf("t%d", i), "s", 1, "")) }))
		}
		return nil
	})
	if !errors.Is(err, rp.fail) {
		t.Fatalf("batch err = %v", err)
	}
	for i, e := range errs {
		if !errors.Is(e, rp.fail) {
			t.Errorf("update %d: %v", i, e)
		}
	}
}

// TestBatchPayloadIsTheAppliedRequest replays a batch's payloads on a store
// that decodes them (a follower) and expects the leader's state. A batch
// marshals with the sizes it cached while estimating bytes, so this covers
// a change made to an object after that: a delete-then-create in one batch
// gets its version set when the actions are built.
func TestBatchPayloadIsTheAppliedRequest(t *testing.T) {
	ctx := context.Background()
	s, rp := newRecordingStore(t)
	mustUpdate(t, s, func(tx Tx) error {
		for i := range 4 {
			if err := tx.Create(task(fmt.Sprintf("t%d", i), "s1", uint64(i), "")); err != nil {
				return err
			}
		}
		return nil
	})
	err := s.Batch(ctx, func(b *Batch) error {
		steps := []func(Tx) error{
			func(tx Tx) error { return tx.Delete(KindTask, "t0") },
			func(tx Tx) error { return tx.Create(task("t0", "s2", 9, "n1")) },
			func(tx Tx) error {
				t1 := ShallowCopy(tx.GetTask("t1"))
				t1.NodeId = "n2"
				return tx.Update(t1)
			},
			func(tx Tx) error { return tx.Create(task("t9", "s1", 9, "")) },
		}
		for _, fn := range steps {
			if err := b.Update(fn); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	follower := New(nil, WithClock(fixedClock()))
	defer follower.Close()
	for i, p := range rp.payloads {
		if err := follower.Apply(uint64(i+1), p); err != nil {
			t.Fatalf("follower apply %d: %v", i+1, err)
		}
	}
	if got, want := follower.dump(), s.dump(); got != want {
		t.Fatalf("follower state\n%s\nleader state\n%s", got, want)
	}
	for _, id := range []string{"t0", "t1", "t9"} {
		var lt, ft *shoalv1.Task
		_ = s.View(func(tx ReadTx) error { lt = tx.GetTask(id); return nil })
		_ = follower.View(func(tx ReadTx) error { ft = tx.GetTask(id); return nil })
		if !proto.Equal(lt, ft) {
			t.Fatalf("task %s: follower %v, leader %v", id, ft, lt)
		}
	}
}
