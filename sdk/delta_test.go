package sdk

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
)

// randomRow draws a node row with id.
func randomRow(r *rand.Rand, id string) Node {
	n := Node{ID: id, Hostname: "h-" + id, Ready: r.IntN(10) > 0, Availability: Availability(r.IntN(3)), Role: Role(r.IntN(2)),
		Kinds: []string{"container"}, TotalNanoCPUs: 8e9, FreeNanoCPUs: int64(r.IntN(8)) * 1e9,
		TotalMemoryBytes: 8 << 30, FreeMemoryBytes: int64(r.IntN(8)) << 30,
		Labels: map[string]string{"zone": fmt.Sprint(r.IntN(3))}, TaskCount: uint32(r.IntN(5))}
	for s := range r.IntN(4) {
		if n.ServiceTasks == nil {
			n.ServiceTasks = map[string]uint32{}
		}
		n.ServiceTasks[fmt.Sprintf("s%d", s)] = uint32(r.IntN(3)) // 0 entries too
	}
	return n
}

// mutate changes a table as a cluster changes between passes: nodes come
// and go, change their state or labels, and tasks start and stop. It
// changes rows in place, as the scheduler does after a call.
func mutate(r *rand.Rand, nodes []Node, next *int) []Node {
	for range r.IntN(6) {
		switch k := r.IntN(10); {
		case k == 0 && len(nodes) > 0: // a node leaves
			i := r.IntN(len(nodes))
			nodes = append(nodes[:i:i], nodes[i+1:]...)
		case k == 1: // a node joins, anywhere
			*next++
			i := r.IntN(len(nodes) + 1)
			nodes = append(nodes[:i:i], append([]Node{randomRow(r, fmt.Sprintf("x%d", *next))}, nodes[i:]...)...)
		case k == 2 && len(nodes) > 0: // drained, down or relabelled
			n := &nodes[r.IntN(len(nodes))]
			n.Availability = AvailabilityDrain
			n.Ready = !n.Ready
			n.Labels = map[string]string{"zone": "z"}
		case k == 3 && len(nodes) > 1: // two rows swap places
			i, j := r.IntN(len(nodes)), r.IntN(len(nodes))
			nodes[i], nodes[j] = nodes[j], nodes[i]
		case len(nodes) > 0: // a task starts or stops
			n := &nodes[r.IntN(len(nodes))]
			svc := fmt.Sprintf("s%d", r.IntN(5))
			if n.ServiceTasks == nil {
				n.ServiceTasks = map[string]uint32{}
			}
			if r.IntN(2) == 0 {
				n.ServiceTasks[svc]++
				n.TaskCount++
				n.FreeNanoCPUs -= 1e8
			} else if n.ServiceTasks[svc] > 0 {
				n.ServiceTasks[svc]--
				if n.ServiceTasks[svc] == 0 && r.IntN(2) == 0 {
					delete(n.ServiceTasks, svc)
				}
				n.TaskCount--
				n.FreeMemoryBytes += 1 << 20
			}
		}
	}
	return nodes
}

// normal drops zero service counts, which mean the same as absent ones.
func normal(nodes []Node) []Node {
	out := CloneTable(nodes)
	for i := range out {
		maps.DeleteFunc(out[i].ServiceTasks, func(_ string, v uint32) bool { return v == 0 })
		if len(out[i].ServiceTasks) == 0 {
			out[i].ServiceTasks = nil
		}
	}
	return out
}

// TestDeltaRebuildsTheTable: over random sequences of cluster changes, the
// table a guest rebuilds from the encoded deltas equals the table the host
// holds, call after call, and an unchanged table costs no rows.
func TestDeltaRebuildsTheTable(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		next := 0
		cur := make([]Node, r.IntN(12))
		for i := range cur {
			cur[i] = randomRow(r, fmt.Sprintf("n%02d", i))
		}
		hostPrev := CloneTable(cur)
		guest := CloneTable(cur) // the guest's copy, as decoded from a full call
		for step := range 30 {
			cur = mutate(r, cur, &next)
			d, inserted, snap := DiffTables(hostPrev, cur)
			d.Generation, d.BaseGeneration = uint64(step+2), uint64(step+1)
			wire := AppendScheduleCall(nil, inserted, nil, &d)
			req, got, err := UnmarshalScheduleCall(wire)
			if err != nil {
				t.Fatalf("seed %d step %d: decode: %v", seed, step, err)
			}
			if got.BaseGeneration != d.BaseGeneration || got.Generation != d.Generation {
				t.Fatalf("seed %d step %d: generations %d/%d", seed, step, got.BaseGeneration, got.Generation)
			}
			guest, err = ApplyDelta(guest, req.Nodes, got)
			if err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if !reflect.DeepEqual(normal(guest), normal(cur)) {
				t.Fatalf("seed %d step %d: guest table\n%+v\nwant\n%+v\nops %v", seed, step, guest, cur, got.Ops)
			}
			if !reflect.DeepEqual(normal(snap), normal(cur)) {
				t.Fatalf("seed %d step %d: host snapshot differs from the table", seed, step)
			}
			hostPrev = snap
			// The caller owns cur: changing it must not reach the snapshot.
			for i := range cur {
				cur[i].TaskCount += 100
				if cur[i].ServiceTasks != nil {
					cur[i].ServiceTasks["s0"] += 100
				}
			}
			for i := range cur {
				cur[i].TaskCount -= 100
				if cur[i].ServiceTasks != nil {
					if cur[i].ServiceTasks["s0"] -= 100; cur[i].ServiceTasks["s0"] == 0 {
						delete(cur[i].ServiceTasks, "s0")
					}
				}
			}
			if !reflect.DeepEqual(normal(hostPrev), normal(cur)) {
				t.Fatalf("seed %d step %d: the snapshot shares state with the caller's table", seed, step)
			}
		}
	}
	// No change: no ops, no patches, no rows.
	nodes := []Node{randomRow(rand.New(rand.NewPCG(1, 1)), "a"), randomRow(rand.New(rand.NewPCG(2, 2)), "b")}
	d, inserted, _ := DiffTables(CloneTable(nodes), nodes)
	if len(d.Ops)+len(d.Patches)+len(inserted) != 0 {
		t.Fatalf("unchanged table: %+v, %d rows", d, len(inserted))
	}
}

// TestHeldTableResyncs: a guest answers Resync to a delta whose base it
// does not hold (a fresh guest, a stale generation, after a failed call),
// and a delta it holds the base of reaches the policy as the whole table.
func TestHeldTableResyncs(t *testing.T) {
	var seen []Node
	policy := func(req *ScheduleRequest) *ScheduleResponse {
		seen = req.Nodes
		return &ScheduleResponse{Groups: make([]GroupResult, len(req.Groups))}
	}
	a, b := Node{ID: "a", Ready: true}, Node{ID: "b", Ready: true}
	full := func(gen uint64, nodes ...Node) []byte {
		return AppendScheduleCall(nil, nodes, nil, &ScheduleDelta{Generation: gen})
	}
	var g heldTable
	// A fresh guest gets a delta: resync.
	delta := AppendScheduleCall(nil, []Node{b}, nil, &ScheduleDelta{Generation: 2, BaseGeneration: 1, Ops: []int32{1, 0}})
	if r := g.schedule(delta, policy); !r.Resync {
		t.Fatalf("fresh guest answered %+v to a delta", r)
	}
	if r := g.schedule(full(1, a), policy); r.Resync || r.Generation != 1 || len(seen) != 1 {
		t.Fatalf("full call: %+v, saw %d rows", r, len(seen))
	}
	if r := g.schedule(delta, policy); r.Resync || r.Generation != 2 || !reflect.DeepEqual(seen, []Node{a, b}) {
		t.Fatalf("delta: %+v, saw %+v", r, seen)
	}
	// Based on generation 1, which the guest no longer holds.
	if r := g.schedule(delta, policy); !r.Resync {
		t.Fatalf("stale base answered %+v", r)
	}
	// After a failed call the guest holds nothing.
	g.schedule(full(3, a), policy)
	g.schedule([]byte{0xff}, policy)
	if r := g.schedule(AppendScheduleCall(nil, nil, nil, &ScheduleDelta{Generation: 4, BaseGeneration: 3}), policy); !r.Resync {
		t.Fatalf("after a failed call answered %+v", r)
	}
	// A 1.0 call (no generation) keeps nothing and echoes nothing.
	if r := g.schedule((&ScheduleRequest{Nodes: []Node{a}}).Marshal(), policy); r.Generation != 0 || g.gen != 0 {
		t.Fatalf("v1 call: %+v, held %d", r, g.gen)
	}
}

// TestKeptPolicySeesWhatChanged: a policy registered to keep state gets,
// on a delta whose rows keep their places, the rows that changed (patched
// or replaced in place), and a whole-table change (Same false) on a full
// call (first call, after a resync, a restart or a swap), after a failed
// call and when rows were added, removed or moved.
func TestKeptPolicySeesWhatChanged(t *testing.T) {
	var seen []TableChanges
	policy := func(req *ScheduleRequest, ch TableChanges) *ScheduleResponse {
		seen = append(seen, ch)
		return &ScheduleResponse{Groups: make([]GroupResult, len(req.Groups))}
	}
	a, b, c := Node{ID: "a", Ready: true}, Node{ID: "b", Ready: true}, Node{ID: "c", Ready: true}
	b2 := b
	b2.Availability = AvailabilityDrain
	var g heldTable
	gen := uint64(0)
	// call sends cur as the host would: whole when prev is nil.
	call := func(prev, cur []Node) {
		t.Helper()
		gen++
		if prev == nil {
			g.scheduleKept(AppendScheduleCall(nil, cur, nil, &ScheduleDelta{Generation: gen}), policy)
			return
		}
		d, inserted, _ := DiffTables(prev, cur)
		d.Generation, d.BaseGeneration = gen, gen-1
		if r := g.scheduleKept(AppendScheduleCall(nil, inserted, nil, &d), policy); r.Resync || r.Error != "" {
			t.Fatalf("call %d: %+v", gen, r)
		}
	}
	withTasks := func(n Node, k uint32) Node {
		n.TaskCount, n.ServiceTasks = k, map[string]uint32{"s": k}
		return n
	}
	call(nil, []Node{a, b, c})
	call([]Node{a, b, c}, []Node{a, b, c})
	call([]Node{a, b, c}, []Node{withTasks(a, 1), b, withTasks(c, 2)})
	call([]Node{withTasks(a, 1), b, withTasks(c, 2)}, []Node{withTasks(a, 1), b2, withTasks(c, 3)})
	call([]Node{withTasks(a, 1), b2, withTasks(c, 3)}, []Node{withTasks(a, 1), withTasks(c, 3)})
	call([]Node{withTasks(a, 1), withTasks(c, 3)}, []Node{withTasks(c, 3), withTasks(a, 1)})
	call(nil, []Node{a, b})
	want := []TableChanges{
		{},
		{Same: true},
		{Same: true, Rows: []int{0, 2}},
		{Same: true, Rows: []int{1, 2}}, // b replaced in place, c patched
		{},                              // b left
		{},                              // a and c swapped
		{},                              // a whole table (resync, restart, swap)
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("changes seen:\n got %+v\nwant %+v", seen, want)
	}
	// After a failed call the next one is whole.
	seen = nil
	g.scheduleKept([]byte{0xff}, policy)
	call(nil, []Node{a, b})
	if !reflect.DeepEqual(seen, []TableChanges{{}}) {
		t.Fatalf("after a failed call: %+v", seen)
	}
}
