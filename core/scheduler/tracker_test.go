package scheduler

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/core/store"
	"github.com/shoal-project/shoal/core/store/storetest"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/rowstamp"
	"github.com/shoal-project/shoal/sdk"
)

// Random sequences of store changes (nodes and tasks created, updated and
// removed, passes committing placements) leave the tracker's node table and
// pending groups equal to a full read of the store. With a small watch
// queue the tracker's watch falls behind and it must rebuild.
func TestPropertyTrackerEqualsFullRead(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var opts []store.Option
		small := rapid.Bool().Draw(rt, "small-watch-queue")
		if small {
			opts = append(opts, store.WithWatchQueueLimit(rapid.IntRange(2, 20).Draw(rt, "limit")))
		}
		h := newHarnessStore(t, opts...)
		rec := &stampChecker{rt: rt}
		h.s.src = rec
		ctx := context.Background()
		nodeIDs := []string{"n1", "n2", "n3", "n4"}
		taskIDs := []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"}
		// Two policies: a pass's first call's placements change its rows
		// for the second, never the tracker's.
		h.addService("s1", 0, reserve(cpu/4, gib/4))
		h.addService("s2", 0, reserve(cpu/4, gib/4), policy(PolicyBinpack))
		states := []shoalv1.TaskState{
			shoalv1.TaskState_TASK_STATE_NEW, statePending, stateAssigned,
			shoalv1.TaskState_TASK_STATE_ACCEPTED, stateRunning, stateComplete,
			shoalv1.TaskState_TASK_STATE_FAILED,
		}
		get := func(k store.Kind, id string) store.Object {
			var o store.Object
			_ = h.st.View(func(tx store.ReadTx) error { o = tx.Get(k, id); return nil })
			return o
		}
		randomTask := func(rt *rapid.T, id string) *shoalv1.Task {
			svc := rapid.SampledFrom([]string{"s1", "s2"}).Draw(rt, "svc")
			spec := h.st.Service(svc).GetSpec().GetTask()
			if rapid.Bool().Draw(rt, "own-reservation") {
				spec = proto.CloneOf(spec)
				spec.Resources = &shoalv1.ResourceRequirements{Reservations: &shoalv1.Resources{
					NanoCpus: int64(rapid.IntRange(0, 3).Draw(rt, "tcpu")) * cpu, MemoryBytes: int64(rapid.IntRange(0, 3).Draw(rt, "tmem")) * gib}}
			}
			return &shoalv1.Task{
				Id: id, ServiceId: svc, Spec: spec,
				SpecVersion:  uint64(rapid.IntRange(1, 2).Draw(rt, "version")),
				NodeId:       rapid.SampledFrom(append([]string{"", "n9"}, nodeIDs...)).Draw(rt, "task-node"),
				DesiredState: rapid.SampledFrom([]shoalv1.TaskState{stateRunning, shoalv1.TaskState_TASK_STATE_SHUTDOWN}).Draw(rt, "desired"),
				Status:       &shoalv1.TaskStatus{State: rapid.SampledFrom(states).Draw(rt, "state")},
			}
		}
		randomNode := func(rt *rapid.T, n *shoalv1.Node) {
			n.Spec = &shoalv1.NodeSpec{
				Availability: rapid.SampledFrom([]shoalv1.NodeAvailability{shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE, shoalv1.NodeAvailability_NODE_AVAILABILITY_DRAIN}).Draw(rt, "avail"),
				Labels:       map[string]string{"zone": rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "zone")},
			}
			n.Description = &shoalv1.NodeDescription{Hostname: "h-" + n.GetId(), Kinds: []string{"container"},
				Resources: &shoalv1.Resources{NanoCpus: int64(rapid.IntRange(0, 8).Draw(rt, "ncpu")) * cpu, MemoryBytes: 8 * gib}}
			n.Status = &shoalv1.NodeStatus{State: rapid.SampledFrom([]shoalv1.NodeState{nodeUp, shoalv1.NodeState_NODE_STATE_DOWN}).Draw(rt, "nstate")}
		}
		write := func(fn func(tx store.Tx) error) {
			if err := h.st.Update(ctx, fn); err != nil {
				rt.Fatal(err)
			}
		}
		if err := h.s.catchUp(ctx); err != nil {
			rt.Fatal(err)
		}
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0: // create, change or remove a node
				id := rapid.SampledFrom(nodeIDs).Draw(rt, "node")
				cur, _ := get(store.KindNode, id).(*shoalv1.Node)
				switch {
				case cur == nil:
					n := &shoalv1.Node{Id: id}
					randomNode(rt, n)
					write(func(tx store.Tx) error { return tx.Create(n) })
				case rapid.IntRange(0, 3).Draw(rt, "remove-node") == 0:
					write(func(tx store.Tx) error { return tx.Delete(store.KindNode, id) })
				default:
					n := proto.CloneOf(cur)
					randomNode(rt, n)
					write(func(tx store.Tx) error { return tx.Update(n) })
				}
			case 1, 2: // create or change a task
				id := rapid.SampledFrom(taskIDs).Draw(rt, "task")
				cur, _ := get(store.KindTask, id).(*shoalv1.Task)
				nt := randomTask(rt, id)
				if cur == nil {
					write(func(tx store.Tx) error { return tx.Create(nt) })
					continue
				}
				nt.Meta = cur.GetMeta()
				write(func(tx store.Tx) error { return tx.Update(nt) })
			case 3: // remove a task
				id := rapid.SampledFrom(taskIDs).Draw(rt, "task")
				if get(store.KindTask, id) != nil {
					write(func(tx store.Tx) error { return tx.Delete(store.KindTask, id) })
				}
			case 4: // a pass: its own placements come back as events
				if _, err := h.s.Pass(ctx); err != nil {
					rt.Fatal(err)
				}
			case 5:
				checkTracker(rt, h)
			}
		}
		checkTracker(rt, h)
	})
}

// fataler is what checkTracker needs of *testing.T and *rapid.T.
type fataler interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// checkTracker catches the tracker up and compares it with a full read.
func checkTracker(rt fataler, h *harness) {
	if err := h.s.catchUp(context.Background()); err != nil {
		rt.Fatal(err)
	}
	gotRows := h.s.tr.table()
	gotGroups := h.s.tr.groups()
	var wantRows []sdk.Node
	var wantGroups map[groupKey]*group
	_ = h.st.View(func(tx store.ReadTx) error {
		var err error
		if wantRows, _, err = nodeTable(tx); err != nil {
			rt.Fatal(err)
		}
		if wantGroups, _, err = pendingGroups(tx); err != nil {
			rt.Fatal(err)
		}
		return nil
	})
	if len(gotRows) == 0 && len(wantRows) == 0 {
		gotRows, wantRows = nil, nil
	}
	if !reflect.DeepEqual(gotRows, wantRows) {
		rt.Fatalf("node table:\n got %+v\nwant %+v", gotRows, wantRows)
	}
	ids := func(gs map[groupKey]*group) map[groupKey][]string {
		out := map[groupKey][]string{}
		for k, g := range gs {
			for _, t := range g.tasks {
				out[k] = append(out[k], fmt.Sprintf("%s@%d", t.GetId(), t.GetMeta().GetVersion()))
			}
		}
		return out
	}
	if got, want := ids(gotGroups), ids(wantGroups); !reflect.DeepEqual(got, want) {
		rt.Fatalf("pending groups:\n got %v\nwant %v", got, want)
	}
}

// newHarnessStore is newHarness with store options.
func newHarnessStore(t testing.TB, opts ...store.Option) *harness {
	h := &harness{t: t, ctx: context.Background(), clk: newManualClock()}
	h.st = storetest.New(t, append([]store.Option{store.WithClock(h.clk.Now)}, opts...)...)
	h.s = New(h.st.Store, WithClock(h.clk))
	return h
}

// newStatus copies every field of TaskStatus but the four it sets.
func TestNewStatusCopiesEveryField(t *testing.T) {
	if n := (&shoalv1.TaskStatus{}).ProtoReflect().Descriptor().Fields().Len(); n != taskStatusFields {
		t.Fatalf("TaskStatus has %d fields, newStatus knows %d: teach it the new ones", n, taskStatusFields)
	}
	old := &shoalv1.TaskStatus{State: statePending, Message: "m", Err: "e", ExitCode: 3, OomKilled: true,
		Addresses: []string{"10.0.0.1"}, Pid: 7}
	old.ProtoReflect().SetUnknown([]byte{0xf8, 0x3e, 0x01}) // field 999, varint 1
	got := newStatus(old, old.GetState(), old.GetTimestamp(), old.GetMessage(), old.GetErr())
	if !proto.Equal(got, old) {
		t.Fatalf("newStatus(old) = %v, want %v", got, old)
	}
	if newStatus(nil, stateAssigned, nil, "m", "").GetState() != stateAssigned {
		t.Fatal("newStatus(nil) lost the state")
	}
}

// Passes after the first follow the store's events instead of reading it
// again: nodes drained, tasks created and removed between passes count.
func TestPassesFollowEventsWithoutRereading(t *testing.T) {
	h := newHarness(t)
	h.addNode("a", 4*cpu, 8*gib)
	h.addNode("b", 4*cpu, 8*gib)
	h.addService("s", 2, reserve(cpu, gib))
	if st := h.pass(); st.Assigned != 2 {
		t.Fatalf("first pass: %+v", st)
	}
	// Drain b, free a's task, add three more: all three fit only on a.
	var b *shoalv1.Node
	_ = h.st.View(func(tx store.ReadTx) error { b = proto.CloneOf(tx.GetNode("b")); return nil })
	drained(b)
	h.st.MustUpdate(func(tx store.Tx) error { return tx.Update(b) })
	for _, tk := range h.st.Tasks("s") {
		if tk.GetNodeId() == "a" {
			h.st.MustUpdate(func(tx store.Tx) error { return tx.Delete(store.KindTask, tk.GetId()) })
		}
	}
	h.addTasks(h.st.Service("s"), 5, "")
	if st := h.pass(); st.Assigned != 4 || st.Unschedulable != 1 {
		t.Fatalf("second pass: %+v, want 4 assigned (a's 4 CPUs) and 1 left", st)
	}
	if got := h.perNode("s"); got["a"] != 4 || got["b"] != 1 {
		t.Fatalf("per node %v, want a:4 b:1 (b's task from the first pass)", got)
	}
	if h.s.fullReads != 1 {
		t.Fatalf("%d full reads of the store, want 1", h.s.fullReads)
	}
}

// A tracker whose watch fell behind reads the store again and places what
// it missed.
func TestPassRereadsAfterWatchOverflow(t *testing.T) {
	h := newHarnessStore(t, store.WithWatchQueueLimit(4))
	h.addNode("a", 64*cpu, 64*gib)
	h.addService("s", 1, reserve(cpu, gib))
	h.pass()
	h.addTasks(h.st.Service("s"), 20, "") // one entry of 21 events: over the limit
	if st := h.pass(); st.Assigned != 20 {
		t.Fatalf("pass after overflow: %+v", st)
	}
	if h.s.fullReads != 2 {
		t.Fatalf("%d full reads, want 2", h.s.fullReads)
	}
	if got := h.perNode("s"); got["a"] != 21 {
		t.Fatalf("per node %v", got)
	}
}

// A pass with two policies counts the first call's placements in the rows
// of the second on a copy: the tracker's rows and maps stay as the store
// says.
func TestTwoPolicyPassLeavesTrackerRows(t *testing.T) {
	h := newHarness(t)
	rec := &stampChecker{rt: t}
	h.s.src = rec
	h.addNode("a", 64*cpu, 64*gib)
	h.addService("s1", 1, reserve(cpu, gib))
	h.pass() // a now holds a task of s1: its row has a ServiceTasks map
	h.addService("s2", 2, reserve(cpu, gib), policy(PolicyBinpack))
	h.addTasks(h.st.Service("s1"), 2, "")
	if st := h.pass(); st.Assigned != 4 {
		t.Fatalf("pass: %+v", st)
	}
	checkTracker(t, h)

	// Binpack places a task of s2 on a (the fuller node), and spread sees
	// it there while placing s3 on b; then the task goes before the
	// commit. The spread guest's table counts it on a, the store does not:
	// the next call must carry a's row again.
	h.addNode("b", 64*cpu, 64*gib)
	h.addService("s3", 1, reserve(cpu, gib), constraints("node.id==b"))
	h.addTasks(h.st.Service("s2"), 1, "")
	rec.hook = func(policy string) {
		if policy != PolicySpread {
			return
		}
		rec.hook = nil
		for _, tk := range h.st.Tasks("s2") {
			if tk.GetStatus().GetState() == statePending {
				h.st.MustUpdate(func(tx store.Tx) error { return tx.Delete(store.KindTask, tk.GetId()) })
			}
		}
	}
	if st := h.pass(); st.Assigned != 1 {
		t.Fatalf("pass: %+v, want s3's task alone assigned", st)
	}
	h.addTasks(h.st.Service("s3"), 1, "")
	h.pass() // the checker compares this call's stamps with the last
	checkTracker(t, h)
}

// stampChecker is a policy source that checks the row stamps of every call
// against the tables of earlier calls: a row stamped at or before an
// earlier table's version must equal that table's row (the plugin host
// sends only the rows stamped later). It places with the native policy.
type stampChecker struct {
	rt   fataler
	seen []stampedTable
	hook func(policy string) // if set, called first by every call
}

type stampedTable struct {
	stamps rowstamp.Stamps
	rows   []sdk.Node
}

func (c *stampChecker) Policy(name string) (Policy, error) {
	p, ok := Native(name)
	if !ok {
		return nil, ErrUnknownPolicy
	}
	return checkedPolicy{c, p, name}, nil
}

type checkedPolicy struct {
	c    *stampChecker
	p    Policy
	name string
}

func (cp checkedPolicy) Schedule(ctx context.Context, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, error) {
	c := cp.c
	if c.hook != nil {
		c.hook(cp.name)
	}
	st := rowstamp.FromContext(ctx)
	if st == nil || len(st.Rows) != len(req.Nodes) {
		c.rt.Fatalf("call without stamps for its %d rows: %+v", len(req.Nodes), st)
	}
	for _, old := range c.seen {
		changed, ok := st.ChangedSince(old.stamps.Source, old.stamps.Version)
		if !ok {
			continue
		}
		if len(old.rows) != len(req.Nodes) {
			c.rt.Fatalf("layout stamp %d <= %d but %d rows became %d", st.Layout, old.stamps.Version, len(old.rows), len(req.Nodes))
		}
		for i := range req.Nodes {
			if slices.Contains(changed, i) {
				continue
			}
			a := CloneRequest(&sdk.ScheduleRequest{Nodes: []sdk.Node{old.rows[i], req.Nodes[i]}}).Nodes
			if len(a[0].ServiceTasks) == 0 && len(a[1].ServiceTasks) == 0 {
				a[0].ServiceTasks, a[1].ServiceTasks = nil, nil
			}
			if !reflect.DeepEqual(a[0], a[1]) {
				c.rt.Fatalf("row %d stamped %d (not after table %d) changed:\n was %+v\n now %+v", i, st.Rows[i], old.stamps.Version, a[0], a[1])
			}
		}
	}
	c.seen = append(c.seen, stampedTable{stamps: rowstamp.Stamps{Source: st.Source, Version: st.Version, Layout: st.Layout,
		Rows: slices.Clone(st.Rows)}, rows: CloneRequest(req).Nodes})
	return cp.p.Schedule(ctx, req)
}
