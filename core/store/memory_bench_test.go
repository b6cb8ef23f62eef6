package store

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// payloadRecorder applies like a MemoryProposer (the leader's path:
// ApplyDecoded) and keeps every payload, so that a second store can replay
// them the way a follower does (Apply decodes each).
type payloadRecorder struct {
	MemoryProposer
	record   bool
	payloads [][]byte
}

func (p *payloadRecorder) Propose(ctx context.Context, payload []byte) error {
	return p.ProposeDecoded(ctx, payload, nil)
}

func (p *payloadRecorder) ProposeDecoded(ctx context.Context, payload []byte, decoded any) error {
	if p.record {
		p.payloads = append(p.payloads, payload)
	}
	return p.MemoryProposer.ProposeDecoded(ctx, payload, decoded)
}

// memService is a service with a realistic task template.
func memService(id string) *shoalv1.Service {
	return &shoalv1.Service{Id: id, SpecVersion: 1, Spec: &shoalv1.ServiceSpec{
		Name: "svc-" + id,
		Task: &shoalv1.TaskSpec{
			Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{
				Image:   "registry.local/busybox:1.36",
				Command: []string{"httpd", "-f", "-p", "8080"},
				Env:     []string{"A=1", "B=2", "SERVICE=" + id},
			}},
			Resources: &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{NanoCpus: 1e8, MemoryBytes: 64 << 20}},
			Restart:   &shoalv1.RestartPolicy{Condition: shoalv1.RestartCondition_RESTART_CONDITION_ANY},
		},
	}}
}

// memLifecycle creates tasks of svc the way the leader's components do (the
// orchestrator shares the service's TaskSpec, the allocator, scheduler and
// dispatcher replace the status of a shallow copy) and takes each through
// PENDING, ASSIGNED and RUNNING, 1,000 tasks per entry.
func memLifecycle(tb testing.TB, s *Store, svc *shoalv1.Service, tasks, nodes int) {
	tb.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx Tx) error { return tx.Create(svc) }); err != nil {
		tb.Fatal(err)
	}
	id := func(i int) string { return fmt.Sprintf("%s-task-%07d", svc.GetId(), i) }
	step := func(fn func(i int, tx Tx) error) {
		err := s.Batch(ctx, func(b *Batch) error {
			for i := range tasks {
				if err := b.Update(func(tx Tx) error { return fn(i, tx) }); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	step(func(i int, tx Tx) error {
		return tx.Create(&shoalv1.Task{
			Id: id(i), ServiceId: svc.GetId(), ServiceName: svc.GetSpec().GetName(), Slot: uint64(i + 1),
			Spec: svc.GetSpec().GetTask(), SpecVersion: svc.GetSpecVersion(),
			DesiredState: shoalv1.TaskState_TASK_STATE_RUNNING,
			Status: &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_NEW,
				Timestamp: timestamppb.New(s.now()), Message: "created"},
		})
	})
	for _, st := range []shoalv1.TaskState{shoalv1.TaskState_TASK_STATE_PENDING,
		shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING} {
		step(func(i int, tx Tx) error {
			t := ShallowCopy(tx.GetTask(id(i)))
			if st == shoalv1.TaskState_TASK_STATE_ASSIGNED {
				t.NodeId = fmt.Sprintf("node-%05d", i%nodes)
			}
			t.Status = &shoalv1.TaskStatus{State: st, Timestamp: timestamppb.New(s.now()), Message: st.String()}
			return tx.Update(t)
		})
	}
}

// retained returns the heap bytes that only keep() reaches: the heap with
// it minus the heap once it is dropped.
func retained(build func() any) uint64 {
	var ms runtime.MemStats
	keep := build()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	with := ms.HeapAlloc
	runtime.KeepAlive(keep)
	keep = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > with {
		return 0
	}
	return with - ms.HeapAlloc
}

// BenchmarkStoreMemory reports the heap one stored task costs (object and
// indexes, bytes/task) after create -> PENDING -> ASSIGNED -> RUNNING, on
// the leader (entries applied from the proposer's objects) and on a
// follower (entries decoded from their bytes). Run with -benchtime=1x.
func BenchmarkStoreMemory(b *testing.B) {
	const tasks, nodes = 20000, 480
	for _, side := range []string{"leader", "follower"} {
		b.Run(side, func(b *testing.B) {
			var perTask, applyNs float64
			for range b.N {
				rec := &payloadRecorder{record: side == "follower"}
				var leader *Store
				build := func() any {
					leader = New(rec, WithClock(fixedClock()))
					rec.Bind(leader)
					memLifecycle(b, leader, memService("svc01"), tasks, nodes)
					return leader
				}
				if side == "leader" {
					perTask = float64(retained(build)) / tasks
					continue
				}
				build()
				leader = nil
				payloads := rec.payloads
				rec = nil
				perTask = float64(retained(func() any {
					f := New(NewMemoryProposer(), WithClock(fixedClock()))
					start := time.Now()
					for i, p := range payloads {
						if err := f.Apply(uint64(i+1), p); err != nil {
							b.Fatal(err)
						}
					}
					applyNs = float64(time.Since(start).Nanoseconds()) / tasks
					return f
				})) / tasks
			}
			b.ReportMetric(perTask, "bytes/task")
			if side == "follower" {
				// the follower's decode and apply of one task's four entries' worth
				b.ReportMetric(applyNs, "apply-ns/task")
			}
		})
	}
}
