package scheduler

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// After any pass on random nodes and services: no node holds more than its
// resources, every assigned task satisfies its constraints, kind and max
// replicas per node, and pending tasks of well-formed services only stay
// pending with a reason.
func TestPropertyPlacementsValid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t, WithPolicySource(NativeSource{}))
		zones := []string{"a", "b", "c"}
		nNodes := rapid.IntRange(1, 8).Draw(rt, "nodes")
		for i := 0; i < nNodes; i++ {
			opts := []nodeOpt{labels("zone", rapid.SampledFrom(zones).Draw(rt, "zone"))}
			if rapid.IntRange(0, 5).Draw(rt, "drain") == 0 {
				opts = append(opts, drained)
			}
			if rapid.IntRange(0, 5).Draw(rt, "down") == 0 {
				opts = append(opts, down)
			}
			if rapid.Bool().Draw(rt, "manager") {
				opts = append(opts, manager)
			}
			h.addNode(fmt.Sprint("n", i), int64(rapid.IntRange(0, 8).Draw(rt, "cpu"))*cpu,
				int64(rapid.IntRange(0, 8).Draw(rt, "mem"))*gib, opts...)
		}
		nSvc := rapid.IntRange(1, 4).Draw(rt, "services")
		for i := 0; i < nSvc; i++ {
			opts := []svcOpt{reserve(int64(rapid.IntRange(0, 3).Draw(rt, "rcpu"))*cpu/2,
				int64(rapid.IntRange(0, 3).Draw(rt, "rmem"))*gib/2)}
			switch rapid.IntRange(0, 3).Draw(rt, "constraint") {
			case 1:
				opts = append(opts, constraints("node.labels.zone=="+rapid.SampledFrom(zones).Draw(rt, "cz")))
			case 2:
				opts = append(opts, constraints("node.role!=manager"))
			}
			if rapid.Bool().Draw(rt, "max") {
				opts = append(opts, maxReplicas(uint64(rapid.IntRange(1, 3).Draw(rt, "maxn"))))
			}
			if rapid.Bool().Draw(rt, "binpack") {
				opts = append(opts, policy(PolicyBinpack))
			}
			h.addService(fmt.Sprint("s", i), rapid.IntRange(0, 20).Draw(rt, "tasks"), opts...)
		}
		// A second pass must not change a valid state.
		h.pass()
		h.pass()
		if err := checkPlacements(h); err != nil {
			rt.Fatal(err)
		}
	})
}

// checkPlacements replays every assigned task against the store's node
// table with the shared feasibility filters.
func checkPlacements(h *harness) error {
	var nodes []*shoalv1.Node
	var tasks []*shoalv1.Task
	_ = h.st.View(func(tx store.ReadTx) error {
		nodes, _ = tx.FindNodes(store.All())
		tasks, _ = tx.FindTasks(store.All())
		return nil
	})
	rows := make([]sdk.Node, len(nodes))
	idx := map[string]int{}
	for i, n := range nodes {
		rows[i] = nodeRow(n)
		idx[n.GetId()] = i
	}
	c := filter.NewCluster(rows)
	for _, t := range tasks {
		if t.GetStatus().GetState() == statePending {
			if t.GetStatus().GetErr() == "" {
				return fmt.Errorf("task %s pending without a reason", t.GetId())
			}
			continue
		}
		g := taskGroup(&group{key: groupKey{service: t.GetServiceId()}, tasks: []*shoalv1.Task{t}})
		cons, err := filter.ParseConstraints(g.Constraints)
		if err != nil {
			return err
		}
		i := idx[t.GetNodeId()]
		if f := c.Check(i, &g, cons); f != filter.FailNone {
			return fmt.Errorf("task %s on %s: %s", t.GetId(), t.GetNodeId(), f)
		}
		c.Place(i, &g)
	}
	for i := range rows {
		if c.FreeCPU[i] < 0 || c.FreeMem[i] < 0 {
			return fmt.Errorf("node %s overcommitted", rows[i].ID)
		}
	}
	return nil
}

// On equal nodes a spread service never differs by more than one task
// between nodes.
func TestPropertySpreadEven(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t)
		n := rapid.IntRange(1, 12).Draw(rt, "nodes")
		for i := 0; i < n; i++ {
			h.addNode(fmt.Sprint("n", i), 64*cpu, 64*gib)
		}
		// Tasks arrive in several batches.
		h.addService("s", 0, reserve(cpu/10, gib/10))
		s := h.st.Service("s")
		for b := rapid.IntRange(1, 4).Draw(rt, "batches"); b > 0; b-- {
			h.addTasks(s, rapid.IntRange(0, 50).Draw(rt, "tasks"), "")
			h.pass()
		}
		counts := h.perNode("s")
		lo, hi := -1, 0
		for i := 0; i < n; i++ {
			c := counts[fmt.Sprint("n", i)]
			if lo < 0 || c < lo {
				lo = c
			}
			hi = max(hi, c)
		}
		if hi-lo > 1 {
			rt.Fatalf("uneven spread: %v", counts)
		}
	})
}
