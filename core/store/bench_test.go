package store

import (
	"context"
	"fmt"
	"testing"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// benchTask is a task with a realistic spec.
func benchTask(id, service string, slot uint64) *shoalv1.Task {
	t := task(id, service, slot, fmt.Sprintf("node-%04d", slot%2400))
	t.ServiceName = "svc-" + service
	t.Spec = &shoalv1.TaskSpec{
		Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{
			Image:   "registry.local/busybox:1.36",
			Command: []string{"httpd", "-f", "-p", "8080"},
			Env:     []string{"A=1", "B=2", "SERVICE=" + service},
		}},
		Resources: &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{NanoCpus: 1e8, MemoryBytes: 64 << 20}},
	}
	return t
}

// populate creates services × perService tasks with a fast batch.
func populate(b *testing.B, s *Store, services, perService int) {
	populateNamed(b, s, "svc", services, perService)
}

func populateNamed(b *testing.B, s *Store, prefix string, services, perService int) {
	b.Helper()
	err := s.Batch(context.Background(), func(bt *Batch) error {
		for sv := range services {
			sid := fmt.Sprintf("%s%02d", prefix, sv)
			for i := range perService {
				if err := bt.Update(func(tx Tx) error {
					return tx.Create(benchTask(fmt.Sprintf("%s-task-%06d", sid, i), sid, uint64(i+1)))
				}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkUpdateOne(b *testing.B) {
	s := NewLocal(WithMaxChangesPerProposal(10000))
	populate(b, s, 1, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("svc00-task-%06d", i%1000)
		i++
		if err := s.Update(ctx, func(tx Tx) error {
			t := tx.GetTask(id)
			t.Status.State = shoalv1.TaskState_TASK_STATE_RUNNING
			return tx.Update(t)
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate1000Of100k: one Update touching 1,000 tasks in a store of 100,000.
func BenchmarkUpdate1000Of100k(b *testing.B) {
	s := NewLocal(WithMaxChangesPerProposal(10000), WithMaxProposalBytes(64<<20))
	populate(b, s, 100, 1000)
	ctx := context.Background()
	states := []shoalv1.TaskState{shoalv1.TaskState_TASK_STATE_SHUTDOWN, shoalv1.TaskState_TASK_STATE_RUNNING}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sid := fmt.Sprintf("svc%02d", i%100)
		want := states[(i/100)%2]
		i++
		if err := s.Update(ctx, func(tx Tx) error {
			return tx.Range(KindTask, ByService(sid), func(o Object) bool {
				t := cloneObject(o).(*shoalv1.Task)
				t.DesiredState = want
				return tx.Update(t) == nil
			})
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatch10000Tasks(b *testing.B) {
	b.ReportAllocs()
	var proposals uint64
	for b.Loop() {
		s := NewLocal()
		err := s.Batch(context.Background(), func(bt *Batch) error {
			for i := range 10000 {
				if err := bt.Update(func(tx Tx) error {
					return tx.Create(benchTask(fmt.Sprintf("task-%06d", i), "web", uint64(i+1)))
				}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		proposals = s.ProposalCount()
	}
	b.ReportMetric(float64(proposals), "proposals")
}

func viewFixture(b *testing.B) *Store {
	s := NewLocal(WithMaxChangesPerProposal(10000), WithMaxProposalBytes(64<<20))
	populate(b, s, 1, 100000)
	populateNamed(b, s, "other", 2, 10) // other services, to make the index selective
	return s
}

// BenchmarkView100kTasksByService: FindTasks (clones) over one 100,000-task service.
func BenchmarkView100kTasksByService(b *testing.B) {
	s := viewFixture(b)
	b.ResetTimer()
	for b.Loop() {
		_ = s.View(func(tx ReadTx) error {
			ts, err := tx.FindTasks(ByService("svc00"))
			if len(ts) != 100000 {
				b.Fatalf("got %d", len(ts))
			}
			return err
		})
	}
}

// BenchmarkRange100kTasksByService: the zero-copy read path.
func BenchmarkRange100kTasksByService(b *testing.B) {
	s := viewFixture(b)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		_ = s.View(func(tx ReadTx) error {
			return tx.Range(KindTask, ByService("svc00"), func(Object) bool { n++; return true })
		})
		if n != 100000 {
			b.Fatalf("got %d", n)
		}
	}
}

func BenchmarkSnapshot100k(b *testing.B) {
	s := viewFixture(b)
	b.ResetTimer()
	for b.Loop() {
		data, err := s.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
	}
}
