package dispatcher

import (
	"testing"
)

// BenchmarkStatusUpdates measures 10,000 RUNNING reports (40 requests of
// 250 over h2c) until they are all written to the store.
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
