package spread

import (
	"sort"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
)

// Schedule places every group of the request, in order; placements of
// earlier groups count against later ones.
func Schedule(req *sdk.ScheduleRequest) *sdk.ScheduleResponse {
	return filter.ScheduleEach(req, scheduleGroup)
}

// Kept is the spread for a guest that keeps its node table between calls
// (sdk.RegisterKeptScheduler): the same answers as Schedule, with the
// per-node arrays, per-service counts and filter results kept between
// calls and refreshed only for the rows that changed. The zero value is
// ready; not safe for concurrent use.
type Kept struct{ k filter.Kept }

// Schedule answers req; ch says how its table differs from the previous
// call's.
func (s *Kept) Schedule(req *sdk.ScheduleRequest, ch sdk.TableChanges) *sdk.ScheduleResponse {
	return s.k.ScheduleEach(req, ch, scheduleGroup)
}

// branch is a level of the preference tree: internal branches hold child
// branches keyed by (service tasks in the subtree, label value order);
// leaves hold nodes keyed by (service tasks, total tasks, index).
type branch struct {
	count    uint64 // tasks of the service on nodes of this subtree
	children []*branch
	h        keyHeap
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
	res := sdk.GroupResult{Placements: make([]int32, g.Count)}
	fails := c.StaticFailures(g, cons)
	var placed int
	if len(labels) == 0 && g.Count <= maxScanned {
		placed = st.placeScan(fails, res.Placements)
	} else {
		placed = st.placeTree(fails, labels, res.Placements)
	}
	if placed < len(res.Placements) {
		c.NoneFit(&res, placed, g, cons)
	}
	return res
}

// maxScanned is the largest group without preferences placed by scanning
// the nodes once per task instead of building a heap: for a few tasks one
// pass over the nodes costs less than building the heap (BENCHMARKS.md).
const maxScanned = 4

// placeTree places out's tasks through the preference tree and its leaf
// heaps, and returns how many it placed. Nodes passing the static filters
// (fails) take part in the tree (their tasks count for evenness); those
// that also fit go into the leaf heaps.
func (st *group) placeTree(fails []filter.Failure, labels []string, out []int32) int {
	static := make([]int, 0, len(fails))
	for i, f := range fails {
		if f == filter.FailNone {
			static = append(static, i)
		}
	}
	root := st.build(static, labels)
	if root.children == nil {
		return st.placeLeaf(root, out)
	}
	placed := 0
	for placed < len(out) {
		n, ok := st.place(root)
		if !ok {
			break
		}
		out[placed] = int32(n)
		placed++
	}
	return placed
}

// placeScan is placeLeaf for a few tasks: each goes to the node a leaf
// heap would have on top, the least (leafKey, index) of the nodes that
// pass the static filters and fit, found by one pass over the nodes.
func (st *group) placeScan(fails []filter.Failure, out []int32) int {
	c, g, svc := st.c, st.g, st.svc
	for t := range out {
		best, bestKey := -1, uint64(0)
		for i, f := range fails {
			if f != filter.FailNone || c.Fits(i, g, svc) != filter.FailNone {
				continue
			}
			if k := leafKey(svc[i], c.Tasks[i]); best < 0 || k < bestKey {
				best, bestKey = i, k
			}
		}
		if best < 0 {
			return t
		}
		c.FreeCPU[best] -= g.NanoCPUs
		c.FreeMem[best] -= g.MemoryBytes
		c.Tasks[best]++
		svc[best]++
		out[t] = int32(best)
	}
	return len(out)
}

// leafKey orders a leaf's nodes by (service tasks, total tasks); keyHeap
// breaks ties by index.
func leafKey(svc, tasks uint32) uint64 { return uint64(svc)<<32 | uint64(tasks) }

func (st *group) build(nodes []int, labels []string) *branch {
	b := &branch{}
	for _, n := range nodes {
		b.count += uint64(st.svc[n])
	}
	if len(labels) == 0 {
		b.h = make(keyHeap, 0, len(nodes))
		for _, n := range nodes {
			if st.c.Fits(n, st.g, st.svc) == filter.FailNone {
				b.h = append(b.h, keyed{key: leafKey(st.svc[n], st.c.Tasks[n]), idx: int32(n)})
			}
		}
		b.h.init()
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
	b.h = make(keyHeap, len(values))
	for i, v := range values {
		b.children[i] = st.build(byValue[v], labels[1:])
		b.h[i] = keyed{key: b.children[i].count, idx: int32(i)}
	}
	b.h.init()
	return b
}

// placeLeaf fills out from a leaf, one task at a time, and returns how
// many it placed. It is place for a tree without preferences, as one loop
// with no calls per task but the heap's: a Go function call costs several
// times more compiled to Wasm than natively.
func (st *group) placeLeaf(b *branch, out []int32) int {
	c, g, svc := st.c, st.g, st.svc
	h := b.h
	for t := range out {
		if len(h) == 0 {
			b.h = h
			return t
		}
		n := int(h[0].idx)
		c.FreeCPU[n] -= g.NanoCPUs
		c.FreeMem[n] -= g.MemoryBytes
		c.Tasks[n]++
		svc[n]++
		b.count++
		out[t] = int32(n)
		if c.Fits(n, g, svc) != filter.FailNone {
			h = h.pop()
		} else {
			h[0].key = leafKey(svc[n], c.Tasks[n])
			h.down(0)
		}
	}
	b.h = h
	return len(out)
}

// place puts one task in the subtree and returns its node.
func (st *group) place(b *branch) (int, bool) {
	for len(b.h) > 0 {
		top := int(b.h[0].idx)
		if b.children == nil {
			c, g, svc := st.c, st.g, st.svc
			c.FreeCPU[top] -= g.NanoCPUs
			c.FreeMem[top] -= g.MemoryBytes
			c.Tasks[top]++
			svc[top]++
			b.count++
			if c.Fits(top, g, svc) != filter.FailNone {
				b.h = b.h.pop()
			} else {
				b.h[0].key = leafKey(svc[top], c.Tasks[top])
				b.h.down(0)
			}
			return top, true
		}
		n, ok := st.place(b.children[top])
		if !ok {
			b.h = b.h.pop()
			continue
		}
		b.count++
		b.h[0].key = b.children[top].count
		b.h.down(0)
		return n, true
	}
	return 0, false
}

// keyed is a heap item: a node (leaves) or child branch (internal
// branches) under its key, ties broken by index.
type keyed struct {
	key uint64
	idx int32
}

// keyHeap is a binary min-heap of keyed items, compared in place: the
// closures of a generic heap cost a call per comparison, which in a Wasm
// guest was most of the spread's time.
type keyHeap []keyed

func (h keyHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h keyHeap) pop() keyHeap {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	if n > 0 {
		h.down(0)
	}
	return h
}

func (h keyHeap) down(i int) {
	n := len(h)
	x := h[i]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && (h[r].key < h[l].key || h[r].key == h[l].key && h[r].idx < h[l].idx) {
			j = r
		}
		y := h[j]
		if !(y.key < x.key || y.key == x.key && y.idx < x.idx) {
			break
		}
		h[i] = y
		i = j
	}
	h[i] = x
}
