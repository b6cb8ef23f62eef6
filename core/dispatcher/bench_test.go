package dispatcher

import (
	"fmt"
	"sync"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// BenchmarkStatusUpdates measures 10,000 RUNNING reports (40 requests of
// 250 over h2c, one after another from one session) until they are all
// written to the store. Each request is answered once stored, so one
// session's sequential requests take a proposal each.
func BenchmarkStatusUpdates(b *testing.B) {
	const n = 10000
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, Config{MaxBatchItems: n})
		tasks, c, sess := h.runningSession(n)
		before := h.st.ProposalCount()
		b.StartTimer()
		h.reportRunning(c, sess, tasks, 250)
		for h.countRunning() != n {
			h.clock.Advance(h.d.cfg.StatusFlushInterval)
		}
		b.StopTimer()
		b.ReportMetric(float64(h.st.ProposalCount()-before), "proposals/op")
		b.StartTimer()
	}
}

// BenchmarkStatusUpdatesSessions has many sessions report 10,000 RUNNING
// statuses in all at once, to a store whose proposals take 5 ms each (a
// Raft commit on a local disk), and measures until every report is
// answered (so stored): the reports are coalesced into few proposals.
func BenchmarkStatusUpdatesSessions(b *testing.B) {
	const n = 10000
	for _, sessions := range []int{100, 500} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			per := n / sessions
			for b.Loop() {
				b.StopTimer()
				h, _ := newHarnessProposer(b, Config{}, 5*time.Millisecond)
				type run struct {
					c    shoalv1connect.DispatcherServiceClient
					sess string
					ups  []*shoalv1.TaskStatusUpdate
				}
				runs := make([]run, sessions)
				var all []*shoalv1.Task
				for i := range runs {
					node := fmt.Sprintf("n%04d", i)
					for j := 0; j < per; j++ {
						tk := newTask(fmt.Sprintf("t%04d-%03d", i, j), node, shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING)
						all = append(all, tk)
						runs[i].ups = append(runs[i].ups, upd(tk.GetId(), status(shoalv1.TaskState_TASK_STATE_RUNNING, "")))
					}
				}
				h.createTasks(all...)
				for i := range runs {
					node := fmt.Sprintf("n%04d", i)
					runs[i].c = h.client(node)
					first, _ := h.openSession(runs[i].c, node, Version)
					runs[i].sess = first.GetSessionId()
				}
				before := h.st.ProposalCount()
				b.StartTimer()
				var wg sync.WaitGroup
				for _, r := range runs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := report(h, r.c, r.sess, r.ups...); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if got := h.countRunning(); got != n {
					b.Fatalf("%d RUNNING after every report was answered, want %d", got, n)
				}
				b.ReportMetric(float64(h.st.ProposalCount()-before), "proposals/op")
				b.StartTimer()
			}
		})
	}
}
