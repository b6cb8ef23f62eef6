package manager

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// BenchmarkScrapeState100kTasks is one scrape of the store gauges of a
// 2,400-node, 100,000-task cluster (the scale run's size): the time the
// scrape holds the store's read lock, during which nothing is applied.
func BenchmarkScrapeState100kTasks(b *testing.B) {
	st := store.NewLocal()
	err := st.Batch(context.Background(), func(bt *store.Batch) error {
		for i := range 2400 {
			n := &shoalv1.Node{Id: fmt.Sprintf("n%04d", i), Role: shoalv1.NodeRole_NODE_ROLE_WORKER, Spec: &shoalv1.NodeSpec{}, Status: &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_READY}}
			if err := bt.Update(func(tx store.Tx) error { return tx.Create(n) }); err != nil {
				return err
			}
		}
		for i := range 100_000 {
			tk := &shoalv1.Task{Id: fmt.Sprintf("t%06d", i), ServiceId: "s1", NodeId: fmt.Sprintf("n%04d", i%2400), Status: &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_RUNNING}}
			if err := bt.Update(func(tx store.Tx) error { return tx.Create(tk) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(stateCollector{&Manager{store: st}})
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
