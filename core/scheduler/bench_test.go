package scheduler

import (
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
)

// benchCluster stores nodes nodes and tasks pending tasks spread over 100
// services (swarm2k scale: 2,400 nodes, 100,000 tasks).
func benchCluster(b *testing.B, nodes, tasks int) *harness {
	h := newHarness(b)
	objs := make([]store.Object, nodes)
	for i := range objs {
		objs[i] = &shoalv1.Node{
			Id:   fmt.Sprintf("node%05d", i),
			Spec: &shoalv1.NodeSpec{Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE, Labels: map[string]string{"zone": fmt.Sprint(i % 3)}},
			Description: &shoalv1.NodeDescription{Hostname: fmt.Sprintf("host%05d", i), Kinds: []string{"container"},
				Resources: &shoalv1.Resources{NanoCpus: 64 * cpu, MemoryBytes: 256 * gib}},
			Status: &shoalv1.NodeStatus{State: nodeUp},
		}
	}
	h.st.Create(objs...)
	const services = 100
	for s := 0; s < services; s++ {
		h.addService(fmt.Sprintf("svc%03d", s), tasks/services, reserve(cpu/100, 64<<20))
	}
	return h
}

func BenchmarkPass100kTasks2400Nodes(b *testing.B) {
	var proposals uint64
	var st PassStats
	for b.Loop() {
		b.StopTimer()
		h := benchCluster(b, 2400, 100_000)
		proposals = h.st.Writes(func() {
			b.StartTimer()
			st = h.pass()
			b.StopTimer()
		})
		b.StartTimer()
	}
	if st.Assigned != 100_000 {
		b.Fatalf("assigned %d", st.Assigned)
	}
	b.ReportMetric(float64(proposals), "proposals")
	b.ReportMetric(float64(st.Groups), "groups")
}

// BenchmarkPlan100kTasks2400Nodes is the pass without the store writes:
// reading the store, building the node table and groups, the native
// spread and the validation.
func BenchmarkPlan100kTasks2400Nodes(b *testing.B) {
	h := benchCluster(b, 2400, 100_000)
	for b.Loop() {
		a, _, _, err := h.s.plan(h.ctx)
		if err != nil || len(a) != 100_000 {
			b.Fatalf("%d assignments, %v", len(a), err)
		}
	}
}

// BenchmarkPlan100kTasks2400NodesShadowTap is the plan with a tap that
// copies every policy call as the shadow scheduler's does: what shadowing
// adds to the pass (the shadow's own call runs elsewhere).
func BenchmarkPlan100kTasks2400NodesShadowTap(b *testing.B) {
	h := benchCluster(b, 2400, 100_000)
	copies := 0
	h.s.shadow = func(_ string, req *sdk.ScheduleRequest, resp *sdk.ScheduleResponse) {
		_, _ = CloneRequest(req), CloneResponse(resp)
		copies++
	}
	for b.Loop() {
		a, _, _, err := h.s.plan(h.ctx)
		if err != nil || len(a) != 100_000 {
			b.Fatalf("%d assignments, %v", len(a), err)
		}
	}
	if copies == 0 {
		b.Fatal("the tap was not called")
	}
}
