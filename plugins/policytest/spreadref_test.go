package policytest_test

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// TestSpreadMatchesReference: the spread policy (heaps with keys kept in
// place, a loop of its own for groups without preferences) answers
// exactly as the policy written the slow, obvious way: for every task,
// scan the tree of preference values for the value with the fewest tasks
// of the service that still has a node with room, then the node with the
// fewest tasks of the service, then fewest tasks, then lowest index.
func TestSpreadMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := policytest.Nodes(t, 30)
		for i := range nodes {
			if r := rapid.IntRange(0, 3).Draw(t, "rack"); r > 0 {
				nodes[i].Labels["rack"] = string(rune('0' + r))
			}
			if rapid.Bool().Draw(t, "has svc") {
				nodes[i].ServiceTasks = map[string]uint32{"s1": rapid.Uint32Range(0, 3).Draw(t, "s1")}
			}
		}
		groups := policytest.Groups(t, 4)
		for i := range groups {
			groups[i].Preferences = rapid.SliceOfN(rapid.SampledFrom([]string{"node.labels.zone", "node.labels.rack"}), 0, 2).Draw(t, "prefs")
		}
		want := filter.ScheduleEach(&sdk.ScheduleRequest{Nodes: sdk.CloneTable(nodes), Groups: groups}, refSpreadGroup)
		got := spread.Schedule(&sdk.ScheduleRequest{Nodes: nodes, Groups: groups})
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("spread differs from the reference (-ref +spread):\n%s", d)
		}
	})
}

func refSpreadGroup(c *filter.Cluster, g *sdk.TaskGroup) sdk.GroupResult {
	reason, detail, cons := filter.GroupError(g)
	if reason != sdk.ReasonNone {
		return filter.Unschedulable(g, reason, detail, sdk.Explanation{})
	}
	svc := c.ServiceCounts(g.ServiceID)
	var labels []string
	for _, p := range g.Preferences {
		l, _ := filter.PreferenceLabel(p)
		labels = append(labels, l)
	}
	var static []int
	for i := range c.Nodes {
		if c.Static(i, g, cons) == filter.FailNone {
			static = append(static, i)
		}
	}
	res := sdk.GroupResult{Placements: make([]int32, g.Count)}
	for t := range res.Placements {
		n := refPick(c, g, svc, static, labels)
		if n < 0 {
			for k := t; k < len(res.Placements); k++ {
				res.Placements[k] = sdk.Unschedulable
			}
			res.Reason, res.Explanation = sdk.ReasonNoSuitableNode, c.Explain(g, cons)
			break
		}
		c.Place(n, g)
		res.Placements[t] = int32(n)
	}
	return res
}

// refPick scans nodes (the subtree of one preference value) for the node
// the next task goes to, or -1.
func refPick(c *filter.Cluster, g *sdk.TaskGroup, svc []uint32, nodes []int, labels []string) int {
	if len(labels) == 0 {
		best := -1
		for _, n := range nodes {
			if c.Fits(n, g, svc) != filter.FailNone {
				continue
			}
			if best < 0 || svc[n] < svc[best] || svc[n] == svc[best] && c.Tasks[n] < c.Tasks[best] {
				best = n // ties keep the lower index, seen first
			}
		}
		return best
	}
	byValue := map[string][]int{}
	for _, n := range nodes {
		v := c.Nodes[n].Labels[labels[0]]
		byValue[v] = append(byValue[v], n)
	}
	values := make([]string, 0, len(byValue))
	for v := range byValue {
		values = append(values, v)
	}
	sort.Strings(values)
	count := func(v string) (s uint64) {
		for _, n := range byValue[v] {
			s += uint64(svc[n])
		}
		return s
	}
	sort.SliceStable(values, func(i, j int) bool { return count(values[i]) < count(values[j]) })
	for _, v := range values {
		if n := refPick(c, g, svc, byValue[v], labels[1:]); n >= 0 {
			return n
		}
	}
	return -1
}
