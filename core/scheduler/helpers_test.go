package scheduler

import (
	"context"
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	"github.com/shoal-project/shoal/core/store/storetest"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock/clocktest"
)

// manualClock is the shared manual test clock.
type manualClock = clocktest.Manual

func newManualClock() *manualClock { return clocktest.NewManual() }

const (
	gib    = int64(1) << 30
	cpu    = int64(1e9)
	nodeUp = shoalv1.NodeState_NODE_STATE_READY
)

type harness struct {
	t     testing.TB
	ctx   context.Context
	clk   *manualClock
	st    *storetest.Store
	s     *Scheduler
	tasks int
}

func newHarness(t testing.TB, opts ...Option) *harness {
	h := &harness{t: t, ctx: context.Background(), clk: newManualClock()}
	h.st = storetest.New(t, store.WithClock(h.clk.Now))
	h.s = New(h.st.Store, append([]Option{WithClock(h.clk)}, opts...)...)
	return h
}

type nodeOpt func(*shoalv1.Node)

func labels(kv ...string) nodeOpt {
	return func(n *shoalv1.Node) {
		n.Spec.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			n.Spec.Labels[kv[i]] = kv[i+1]
		}
	}
}

func drained(n *shoalv1.Node) {
	n.Spec.Availability = shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN
}

func down(n *shoalv1.Node) { n.Status.State = shoalv1.NodeState_NODE_STATE_DOWN }

func kinds(k ...string) nodeOpt { return func(n *shoalv1.Node) { n.Description.Kinds = k } }

func manager(n *shoalv1.Node) { n.Role = shoalv1.NodeRole_NODE_ROLE_MANAGER }

func (h *harness) addNode(id string, cpus, mem int64, opts ...nodeOpt) {
	n := &shoalv1.Node{
		Id:   id,
		Spec: &shoalv1.NodeSpec{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE},
		Description: &shoalv1.NodeDescription{
			Hostname:  "host-" + id,
			Kinds:     []string{"container", "process"},
			Resources: &shoalv1.Resources{NanoCpus: cpus, MemoryBytes: mem},
		},
		Status: &shoalv1.NodeStatus{State: nodeUp},
		Role:   shoalv1.NodeRole_NODE_ROLE_WORKER,
	}
	for _, o := range opts {
		o(n)
	}
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Create(n) })
}

type svcOpt func(*shoalv1.Service)

func reserve(cpus, mem int64) svcOpt {
	return func(s *shoalv1.Service) {
		s.Spec.Task.Resources = &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{NanoCpus: cpus, MemoryBytes: mem}}
	}
}

func constraints(c ...string) svcOpt {
	return func(s *shoalv1.Service) { s.Spec.Task.Placement.Constraints = c }
}

func maxReplicas(n uint64) svcOpt {
	return func(s *shoalv1.Service) { s.Spec.Task.Placement.MaxReplicas = n }
}

func policy(name string) svcOpt { return func(s *shoalv1.Service) { s.Spec.Scheduler = name } }

func process(s *shoalv1.Service) {
	s.Spec.Task.Runtime = &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"true"}}}
}

// addService stores a service and n pending tasks of it.
func (h *harness) addService(id string, n int, opts ...svcOpt) {
	s := &shoalv1.Service{Id: id, SpecVersion: 1, Spec: &shoalv1.ServiceSpec{
		Name: id,
		Task: &shoalv1.TaskSpec{
			Runtime:   &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}},
			Placement: &shoalv1.Placement{},
		},
	}}
	for _, o := range opts {
		o(s)
	}
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Create(s) })
	h.addTasks(s, n, "")
}

// addTasks stores n pending tasks of s (on node, when set).
func (h *harness) addTasks(s *shoalv1.Service, n int, node string) {
	tasks := make([]store.Object, n)
	for i := range tasks {
		h.tasks++
		tasks[i] = &shoalv1.Task{
			Id:           fmt.Sprintf("t%07d", h.tasks),
			ServiceId:    s.GetId(),
			Slot:         uint64(i + 1),
			NodeId:       node,
			Spec:         s.GetSpec().GetTask(),
			SpecVersion:  s.GetSpecVersion(),
			DesiredState: shoalv1.TaskState_TASK_STATE_RUNNING,
			Status:       &shoalv1.TaskStatus{State: statePending, Message: "allocated"},
		}
	}
	h.st.Create(tasks...)
}

func (h *harness) pass() PassStats {
	h.t.Helper()
	st, err := h.s.Pass(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// perNode counts the assigned tasks of a service per node.
func (h *harness) perNode(service string) map[string]int {
	out := map[string]int{}
	for _, t := range h.st.Tasks(service) {
		if t.GetStatus().GetState() == stateAssigned {
			out[t.GetNodeId()]++
		}
	}
	return out
}

func (h *harness) errsOf(service string) map[string]int {
	out := map[string]int{}
	for _, t := range h.st.Tasks(service) {
		if t.GetStatus().GetState() == statePending {
			out[t.GetStatus().GetErr()]++
		}
	}
	return out
}
