package orchestrator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/allocator"
	"github.com/shoal-project/shoal/core/orchestrator"
	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// The three leader components together on one store with the wall clock:
// a service becomes assigned tasks spread over the nodes, and a node going
// down moves its tasks elsewhere.
func TestPipeline(t *testing.T) {
	st := store.NewLocal()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 3)
	runs := []interface{ Run(context.Context) error }{
		orchestrator.New(st),
		allocator.New(st, allocator.WithDebounce(5*time.Millisecond)),
		scheduler.New(st, scheduler.WithDebounce(5*time.Millisecond)),
	}
	for _, r := range runs {
		go func() { errs <- r.Run(ctx) }()
	}
	defer func() {
		cancel()
		for range runs {
			if err := <-errs; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}()
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := st.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		update(func(tx store.Tx) error {
			return tx.Create(&shoalv1.Node{
				Id:   fmt.Sprint("n", i),
				Spec: &shoalv1.NodeSpec{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE},
				Description: &shoalv1.NodeDescription{Hostname: fmt.Sprint("h", i), Kinds: []string{"container"},
					Resources: &shoalv1.Resources{NanoCpus: 4e9, MemoryBytes: 8 << 30}},
				Status: &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_READY},
			})
		})
	}
	update(func(tx store.Tx) error {
		return tx.Create(&shoalv1.Service{Id: "web", SpecVersion: 1, Spec: &shoalv1.ServiceSpec{
			Name: "web",
			Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: 9}},
			Task: &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}}},
		}})
	})
	perNode := func() map[string]int {
		out := map[string]int{}
		_ = st.View(func(tx store.ReadTx) error {
			ts, _ := tx.FindTasks(store.ByService("web"))
			for _, tk := range ts {
				if tk.GetDesiredState() == shoalv1.TaskState_TASK_STATE_RUNNING &&
					tk.GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_ASSIGNED {
					out[tk.GetNodeId()]++
				}
			}
			return nil
		})
		return out
	}
	waitFor := func(what string, cond func(map[string]int) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := perNode()
			if cond(got) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %v", what, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("3 tasks per node", func(m map[string]int) bool { return m["n0"] == 3 && m["n1"] == 3 && m["n2"] == 3 })
	update(func(tx store.Tx) error {
		n := proto.CloneOf(tx.GetNode("n1"))
		n.Status.State = shoalv1.NodeState_NODE_STATE_DOWN
		return tx.Update(n)
	})
	waitFor("tasks off the down node", func(m map[string]int) bool { return m["n1"] == 0 && m["n0"]+m["n2"] == 9 })
}
