package manager

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestStateGaugesCountNodesTasksAndServicesOfTheStore(t *testing.T) {
	st := store.NewLocal()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		objs := []store.Object{
			&shoalv1.Node{Id: "n1", Role: shoalv1.NodeRole_NODE_ROLE_MANAGER, Spec: &shoalv1.NodeSpec{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE}, Status: &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_READY}},
			&shoalv1.Node{Id: "n2", Role: shoalv1.NodeRole_NODE_ROLE_WORKER, Spec: &shoalv1.NodeSpec{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN}, Status: &shoalv1.NodeStatus{State: shoalv1.NodeState_NODE_STATE_DOWN}},
			&shoalv1.Service{Id: "s1", Spec: &shoalv1.ServiceSpec{Name: "web", Mode: &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: 2}}}},
			&shoalv1.Service{Id: "s2", Spec: &shoalv1.ServiceSpec{Name: "agent", Mode: &shoalv1.ServiceSpec_Global{Global: &shoalv1.GlobalMode{}}}},
			&shoalv1.Task{Id: "t1", ServiceId: "s1", Status: &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_RUNNING}},
			&shoalv1.Task{Id: "t2", ServiceId: "s1", Status: &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_RUNNING}},
			&shoalv1.Task{Id: "t3", ServiceId: "s2", Status: &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_PENDING}},
		}
		for _, o := range objs {
			if err := tx.Create(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(stateCollector{&Manager{store: st}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	for series, v := range map[string]float64{
		"shoal_nodes{active,manager,ready}": 1, "shoal_nodes{drain,worker,down}": 1, "shoal_nodes{active,worker,ready}": 0,
		"shoal_tasks{running}": 2, "shoal_tasks{pending}": 1, "shoal_tasks{failed}": 0,
		"shoal_store_objects{task}": 3, "shoal_services{replicated}": 1, "shoal_services{global}": 1, "shoal_store_objects{node}": 2, "shoal_dispatcher_sessions{}": 0,
	} {
		if got[series] != v {
			t.Errorf("%s = %v, want %v", series, got[series], v)
		}
	}
}
