package dispatcher

import (
	"fmt"
	"testing"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// BenchmarkStatusUpdates measures 10,000 RUNNING reports (40 requests of
// 250 over h2c) until they are all written to the store.
func BenchmarkStatusUpdates(b *testing.B) {
	const n = 10000
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, Config{MaxBatchItems: n})
		tasks := make([]*shoalv1.Task, n)
		for i := range tasks {
			tasks[i] = newTask(fmt.Sprintf("t%05d", i), "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING)
		}
		h.createTasks(tasks...)
		c := h.client("n1")
		first, _ := h.openSession(c, "n1", Version)
		before := h.st.ProposalCount()
		b.StartTimer()
		for i := 0; i < n; i += 250 {
			var ups []*shoalv1.TaskStatusUpdate
			for j := i; j < i+250; j++ {
				ups = append(ups, upd(tasks[j].GetId(), status(shoalv1.TaskState_TASK_STATE_RUNNING, "")))
			}
			if _, err := c.UpdateTaskStatus(h.ctx, connect.NewRequest(&shoalv1.UpdateTaskStatusRequest{SessionId: first.GetSessionId(), Updates: ups})); err != nil {
				b.Fatal(err)
			}
		}
		for {
			cnt := 0
			_ = h.st.View(func(tx store.ReadTx) error {
				cnt, _ = tx.Count(store.KindTask, store.ByTaskState(shoalv1.TaskState_TASK_STATE_RUNNING))
				return nil
			})
			if cnt == n {
				break
			}
			h.clock.Advance(h.d.cfg.StatusFlushInterval)
		}
		b.StopTimer()
		b.ReportMetric(float64(h.st.ProposalCount()-before), "proposals/op")
		b.StartTimer()
	}
}
