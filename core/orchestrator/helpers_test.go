package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoal-project/shoal/core/store"
	"github.com/shoal-project/shoal/core/store/storetest"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

type harness struct {
	t   testing.TB
	ctx context.Context
	clk *manualClock
	st  *storetest.Store
	o   *Orchestrator
	ids int
}

func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), clk: newManualClock()}
	h.st = storetest.New(t, store.WithClock(h.clk.Now))
	opts = append([]Option{WithClock(h.clk), WithIDGenerator(func() string {
		h.ids++
		return fmt.Sprintf("task%06d", h.ids)
	})}, opts...)
	h.o = New(h.st.Store, opts...)
	return h
}

// step runs one full reconciliation pass.
func (h *harness) step() {
	h.t.Helper()
	h.o.all = true
	if err := h.o.reconcile(h.ctx); err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	h.checkSlots()
}

func (h *harness) addNode(id string, state shoalv1.NodeState, labels map[string]string) {
	h.st.MustUpdate(func(tx store.Tx) error {
		return tx.Create(&shoalv1.Node{
			Id:          id,
			Spec:        &shoalv1.NodeSpec{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE, Labels: labels},
			Description: &shoalv1.NodeDescription{Hostname: "host-" + id, Kinds: []string{"container", "process"}},
			Status:      &shoalv1.NodeStatus{State: state},
			Role:        shoalv1.NodeRole_NODE_ROLE_WORKER,
		})
	})
}

func (h *harness) editNode(id string, fn func(n *shoalv1.Node)) {
	h.st.MustUpdate(func(tx store.Tx) error {
		n := proto.CloneOf(tx.GetNode(id))
		fn(n)
		return tx.Update(n)
	})
}

func (h *harness) setNodeState(id string, s shoalv1.NodeState) {
	h.editNode(id, func(n *shoalv1.Node) { n.Status.State = s })
}

func (h *harness) setAvailability(id string, a shoalv1.NodeAvailability) {
	h.editNode(id, func(n *shoalv1.Node) { n.Spec.Availability = a })
}

func restart(cond shoalv1.RestartCondition, delay time.Duration, maxAttempts uint64, window time.Duration) *shoalv1.RestartPolicy {
	return &shoalv1.RestartPolicy{Condition: cond, Delay: durationpb.New(delay), MaxAttempts: maxAttempts, Window: durationpb.New(window)}
}

// allAtOnce is the update policy of the tests that are not about rolling
// updates: every outdated task replaced in one pass.
func allAtOnce() *shoalv1.UpdateConfig {
	return &shoalv1.UpdateConfig{Monitor: durationpb.New(0)}
}

func replicated(id string, n uint64, rp *shoalv1.RestartPolicy) *shoalv1.Service {
	return &shoalv1.Service{Id: id, SpecVersion: 1, Spec: &shoalv1.ServiceSpec{
		Name:         "svc-" + id,
		UpdateConfig: allAtOnce(),
		Mode:         &shoalv1.ServiceSpec_Replicated{Replicated: &shoalv1.ReplicatedMode{Replicas: n}},
		Task: &shoalv1.TaskSpec{
			Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "busybox"}},
			Restart: rp,
		},
	}}
}

func global(id string, constraints ...string) *shoalv1.Service {
	return &shoalv1.Service{Id: id, SpecVersion: 1, Spec: &shoalv1.ServiceSpec{
		Name:         "svc-" + id,
		UpdateConfig: allAtOnce(),
		Mode:         &shoalv1.ServiceSpec_Global{Global: &shoalv1.GlobalMode{}},
		Task: &shoalv1.TaskSpec{
			Runtime:   &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep", "1d"}}},
			Restart:   restart(shoalv1.RestartCondition_RESTART_CONDITION_ANY, 0, 0, 0),
			Placement: &shoalv1.Placement{Constraints: constraints},
		},
	}}
}

func (h *harness) createService(s *shoalv1.Service) {
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Create(s) })
}

func (h *harness) editService(id string, fn func(s *shoalv1.Service)) {
	h.st.MustUpdate(func(tx store.Tx) error {
		s := proto.CloneOf(tx.GetService(id))
		fn(s)
		return tx.Update(s)
	})
}

func (h *harness) service(id string) *shoalv1.Service {
	var s *shoalv1.Service
	_ = h.st.View(func(tx store.ReadTx) error { s = tx.GetService(id); return nil })
	return s
}

func (h *harness) scale(id string, n uint64) {
	h.editService(id, func(s *shoalv1.Service) { s.Spec.GetReplicated().Replicas = n })
}

func (h *harness) tasks(service string) []*shoalv1.Task {
	h.t.Helper()
	out := h.st.Tasks(service)
	sortTasks(out)
	return out
}

// wantTasks fails the test unless service has n tasks.
func (h *harness) wantTasks(service string, n int) {
	h.t.Helper()
	if got := len(h.tasks(service)); got != n {
		h.t.Fatalf("service %s has %d tasks, want %d", service, got, n)
	}
}

// liveTasks returns the live tasks of a service by slot key ("1", "node-a").
func (h *harness) liveTasks(service string) map[string]*shoalv1.Task {
	out := make(map[string]*shoalv1.Task)
	for _, t := range h.tasks(service) {
		if live(t) {
			out[slotName(t)] = t
		}
	}
	return out
}

func slotName(t *shoalv1.Task) string {
	if t.GetNodeId() != "" && t.GetSlot() == 0 {
		return t.GetNodeId()
	}
	return fmt.Sprint(t.GetSlot())
}

func (h *harness) liveSlots(service string) []string {
	var out []string
	for k := range h.liveTasks(service) {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// setState sets a task's observed state (what the agent would report).
func (h *harness) setState(id string, s shoalv1.TaskState) {
	h.st.MustUpdate(func(tx store.Tx) error {
		t := proto.CloneOf(tx.GetTask(id))
		t.Status.State = s
		return tx.Update(t)
	})
}

// assign puts a task on a node and marks it running.
func (h *harness) assign(id, node string) {
	h.st.MustUpdate(func(tx store.Tx) error {
		t := proto.CloneOf(tx.GetTask(id))
		t.NodeId = node
		t.Status.State = shoalv1.TaskState_TASK_STATE_RUNNING
		return tx.Update(t)
	})
}

// checkSlots fails when any slot of any service holds two live tasks.
func (h *harness) checkSlots() {
	h.t.Helper()
	if err := noDuplicateLive(h.st.Store); err != nil {
		h.t.Fatal(err)
	}
}

func noDuplicateLive(st *store.Store) error {
	var dupErr error
	err := st.View(func(tx store.ReadTx) error {
		seen := make(map[string]*shoalv1.Task)
		return tx.Range(store.KindTask, store.All(), func(obj store.Object) bool {
			t := obj.(*shoalv1.Task)
			if !live(t) {
				return true
			}
			k := t.GetServiceId() + "/" + slotName(t)
			if other, dup := seen[k]; dup && !startingFirst(other, t) {
				dupErr = fmt.Errorf("slot %s has two live tasks: %s and %s", k, other.GetId(), t.GetId())
				return false
			}
			seen[k] = t
			return true
		})
	})
	if err != nil {
		return err
	}
	return dupErr
}

// startingFirst reports whether a and b are a start-first pair: an older
// version's task and its replacement that does not run yet.
func startingFirst(a, b *shoalv1.Task) bool {
	if movingFirst(a, b) || movingFirst(b, a) {
		return true // a rebalance move's pair (rebalance.go)
	}
	if a.GetSpecVersion() > b.GetSpecVersion() {
		a, b = b, a
	}
	return a.GetSpecVersion() < b.GetSpecVersion() && b.GetStatus().GetState() < stateRunning
}
