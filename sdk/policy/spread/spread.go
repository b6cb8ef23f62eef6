package spread

import (
	"sort"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"github.com/shoal-project/shoal/sdk/policy/internal/heap"
)

// Schedule places every group of the request, in order; placements of
// earlier groups count against later ones.
func Schedule(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
	return filter.ScheduleEach(req, scheduleGroup)
}

// branch is a level of the preference tree: internal branches hold child
// branches keyed by (service tasks in the subtree, label value order);
// leaves hold nodes keyed by (service tasks, total tasks, index).
type branch struct {
	count    uint64 // tasks of the service on nodes of this subtree
	children []*branch
	h        heap.Heap
}

type group struct {
	c    *filter.Cluster
	g    *sdk.TaskGroup
	svc  []uint32
	cons []filter.Constraint
}

func scheduleGroup(c *filter.Cluster, g *sdk.TaskGroup) sdk.GroupResult {
	reason, detail, cons := filter.GroupError(g)
	if reason != sdk.ReasonNone {
		return filter.Unschedulable(g, reason, detail, sdk.Explanation{})
	}
	st := &group{c: c, g: g, svc: c.ServiceCounts(g.ServiceID), cons: cons}
	labels := make([]string, len(g.Preferences))
	for i, p := range g.Preferences {
		labels[i], _ = filter.PreferenceLabel(p)
	}
	// Nodes passing the static filters take part in the tree (their tasks
	// count for evenness); those that also fit go into the leaf heaps.
	var static []int
	for i := range c.Nodes {
		if c.Static(i, g, cons) == filter.FailNone {
			static = append(static, i)
		}
	}
	root := st.build(static, labels)
	res := sdk.GroupResult{Placements: make([]int32, g.Count)}
	for t := range res.Placements {
		n, ok := st.place(root)
		if !ok {
			for k := t; k < len(res.Placements); k++ {
				res.Placements[k] = sdk.Unschedulable
			}
			res.Reason = sdk.ReasonNoSuitableNode
			res.Explanation = c.Explain(g, cons)
			break
		}
		res.Placements[t] = int32(n)
	}
	return res
}

func (st *group) build(nodes []int, labels []string) *branch {
	b := &branch{}
	for _, n := range nodes {
		b.count += uint64(st.svc[n])
	}
	if len(labels) == 0 {
		items := make([]int, 0, len(nodes))
		for _, n := range nodes {
			if st.c.Fits(n, st.g, st.svc) == filter.FailNone {
				items = append(items, n)
			}
		}
		svc, tasks := st.svc, st.c.Tasks
		b.h = heap.Heap{Items: items, Less: func(x, y int) bool {
			if svc[x] != svc[y] {
				return svc[x] < svc[y]
			}
			if tasks[x] != tasks[y] {
				return tasks[x] < tasks[y]
			}
			return x < y
		}}
		b.h.Init()
		return b
	}
	// Split by the value of the first label; nodes without it share the
	// empty value.
	byValue := make(map[string][]int)
	for _, n := range nodes {
		v := st.c.Nodes[n].Labels[labels[0]]
		byValue[v] = append(byValue[v], n)
	}
	values := make([]string, 0, len(byValue))
	for v := range byValue {
		values = append(values, v)
	}
	sort.Strings(values)
	b.children = make([]*branch, len(values))
	items := make([]int, len(values))
	for i, v := range values {
		b.children[i] = st.build(byValue[v], labels[1:])
		items[i] = i
	}
	ch := b.children
	b.h = heap.Heap{Items: items, Less: func(x, y int) bool {
		if ch[x].count != ch[y].count {
			return ch[x].count < ch[y].count
		}
		return x < y
	}}
	b.h.Init()
	return b
}

// place puts one task in the subtree and returns its node.
func (st *group) place(b *branch) (int, bool) {
	for b.h.Len() > 0 {
		top := b.h.Top()
		if b.children == nil {
			st.c.Place(top, st.g)
			b.count++
			if st.c.Fits(top, st.g, st.svc) != filter.FailNone {
				b.h.Pop()
			} else {
				b.h.FixTop()
			}
			return top, true
		}
		n, ok := st.place(b.children[top])
		if !ok {
			b.h.Pop()
			continue
		}
		b.count++
		b.h.FixTop()
		return n, true
	}
	return 0, false
}
