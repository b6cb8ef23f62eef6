package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// checkIndexes verifies every secondary index against a rebuild from the objects.
func checkIndexes(t interface{ Fatalf(string, ...any) }, s *Store) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range Kinds() {
		tb := s.st.tables[k]
		for i, def := range indexDefs[k] {
			want := map[string]map[string]bool{}
			for id, c := range tb.objs {
				o := c.o
				if o.GetId() != id {
					t.Fatalf("%s %s stored under %s", k, o.GetId(), id)
				}
				if key, ok := def.key(o); ok {
					if want[key] == nil {
						want[key] = map[string]bool{}
					}
					want[key][id] = true
				}
			}
			got := tb.idx[i]
			if len(got) != len(want) {
				t.Fatalf("%s index %s has %d keys, want %d", k, def.name, len(got), len(want))
			}
			for key, set := range got {
				if set.len() != len(want[key]) {
					t.Fatalf("%s index %s key %q has %d ids, want %d", k, def.name, key, set.len(), len(want[key]))
				}
				if set.many != nil && len(set.many) < 2 {
					t.Fatalf("%s index %s key %q keeps a map of %d", k, def.name, key, len(set.many))
				}
				for _, o := range set.appendTo(nil) {
					id := o.GetId()
					if !want[key][id] || tb.objs[id].o != o {
						t.Fatalf("%s index %s key %q holds stale %s", k, def.name, key, id)
					}
				}
			}
		}
	}
}

var taskStates = []shoalv1.TaskState{
	shoalv1.TaskState_TASK_STATE_NEW, shoalv1.TaskState_TASK_STATE_PENDING,
	shoalv1.TaskState_TASK_STATE_RUNNING, shoalv1.TaskState_TASK_STATE_SHUTDOWN,
}

// genTxOp draws one transaction step over small ID and name pools, so that
// conflicts of every kind happen.
func genTxOp(t *rapid.T) func(tx Tx) error {
	id := func(prefix string, n int) string {
		return fmt.Sprintf("%s%d", prefix, rapid.IntRange(0, n).Draw(t, prefix))
	}
	switch rapid.IntRange(0, 8).Draw(t, "op") {
	case 0, 1:
		tk := task(id("t", 15), id("s", 3), uint64(rapid.IntRange(0, 3).Draw(t, "slot")), id("n", 3))
		tk.Status.State = rapid.SampledFrom(taskStates).Draw(t, "state")
		return func(tx Tx) error { return tx.Create(tk) }
	case 2, 3:
		tid, field := id("t", 15), rapid.IntRange(0, 3).Draw(t, "field")
		nid, st := id("n", 3), rapid.SampledFrom(taskStates).Draw(t, "state")
		return func(tx Tx) error {
			cur := proto.CloneOf(tx.GetTask(tid))
			if cur == nil {
				return nil
			}
			switch field {
			case 0:
				cur.NodeId = nid
			case 1:
				cur.Status.State = st
			case 2:
				cur.DesiredState = st
			case 3:
				cur.Slot++
			}
			return tx.Update(cur)
		}
	case 4:
		tid := id("t", 15)
		return func(tx Tx) error { return tx.Delete(KindTask, tid) }
	case 5:
		svc := service(id("s", 3), id("name", 3))
		return func(tx Tx) error { return tx.Create(svc) }
	case 6:
		sid, name := id("s", 3), id("name", 3)
		return func(tx Tx) error {
			cur := proto.CloneOf(tx.GetService(sid))
			if cur == nil {
				return tx.Delete(KindService, sid)
			}
			cur.Spec.Name = name
			return tx.Update(cur)
		}
	case 7:
		n := node(id("n", 3), id("host", 3),
			shoalv1.NodeRole(rapid.IntRange(1, 2).Draw(t, "role")),
			shoalv1.NodeAvailability(rapid.IntRange(1, 3).Draw(t, "avail")))
		return func(tx Tx) error {
			cur := tx.GetNode(n.Id)
			if cur == nil {
				return tx.Create(n)
			}
			n.Meta = cur.Meta
			return tx.Update(n)
		}
	default:
		// A stale write.
		tid := id("t", 15)
		return func(tx Tx) error {
			cur := proto.CloneOf(tx.GetTask(tid))
			if cur == nil {
				return nil
			}
			cur.Meta.Version++
			return tx.Update(cur)
		}
	}
}

func runRandomTxs(t *rapid.T, s *Store) {
	n := rapid.IntRange(1, 40).Draw(t, "txs")
	for range n {
		ops := rapid.SliceOfN(rapid.Custom(genTxOp), 1, 4).Draw(t, "ops")
		_ = s.Update(context.Background(), func(tx Tx) error {
			for _, op := range ops {
				if err := op(tx); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

func TestPropertySnapshotRestoreAndReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, rp := newRecordingStore(t)
		runRandomTxs(t, s)
		checkIndexes(t, s)
		snap, index, err := s.SnapshotWithIndex()
		if err != nil {
			t.Fatal(err)
		}

		restored := NewLocal(WithMutationCheck(true))
		if err := restored.Restore(index, snap); err != nil {
			t.Fatal(err)
		}
		checkIndexes(t, restored)
		snap2, _ := restored.Snapshot()
		if string(snap2) != string(snap) || restored.dump() != s.dump() {
			t.Fatalf("restored state differs:\n%s\nvs\n%s", restored.dump(), s.dump())
		}

		// Determinism: replaying the same entries elsewhere gives the same bytes.
		replica := New(nil, WithMutationCheck(true))
		for i, p := range rp.payloads {
			_ = replica.Apply(uint64(i+1), p)
		}
		snap3, _ := replica.Snapshot()
		if string(snap3) != string(snap) {
			t.Fatalf("replica differs:\n%s\nvs\n%s", replica.dump(), s.dump())
		}

		// Same answers from every index.
		for _, by := range []By{ByService("s0"), ByService("s1"), ByNode("n0"), ByNode("n2"), BySlot("s1", 1),
			ByTaskState(shoalv1.TaskState_TASK_STATE_RUNNING), ByDesiredState(shoalv1.TaskState_TASK_STATE_SHUTDOWN)} {
			a, b := viewIDs(s, KindTask, by), viewIDs(restored, KindTask, by)
			if a != b {
				t.Fatalf("%#v: %s vs %s", by, a, b)
			}
		}
	})
}

func viewIDs(s *Store, k Kind, by By) string {
	var out string
	_ = s.View(func(tx ReadTx) error {
		objs, err := tx.Find(k, by)
		out = ids(objs)
		return err
	})
	return out
}

// genValidTaskActions draws actions on distinct task IDs that are valid against s.
func genValidTaskActions(t *rapid.T, s *Store, pool []string) []*shoalv1.StoreAction {
	var out []*shoalv1.StoreAction
	_ = s.View(func(tx ReadTx) error {
		for _, id := range pool {
			cur := proto.CloneOf(tx.GetTask(id))
			switch {
			case cur == nil:
				out = append(out, &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE,
					Object: wrap(task(id, rapid.SampledFrom([]string{"s0", "s1"}).Draw(t, "svc"), 1, ""))})
			case rapid.Bool().Draw(t, "remove"):
				out = append(out, &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE,
					Object: wrap(&shoalv1.Task{Id: id, Meta: cur.Meta})})
			default:
				cur.NodeId = rapid.SampledFrom([]string{"n0", "n1", ""}).Draw(t, "node")
				out = append(out, &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE,
					Object: wrap(cur)})
			}
		}
		return nil
	})
	return out
}

func TestPropertyOneBadActionChangesNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, _ := newRecordingStore(t)
		runRandomTxs(t, s)
		// Valid actions on t100..t10x; the bad one targets other objects.
		n := rapid.IntRange(0, 6).Draw(t, "valid")
		var pool []string
		for i := range n {
			pool = append(pool, fmt.Sprintf("t10%d", i))
		}
		actions := genValidTaskActions(t, s, pool)

		var existing *shoalv1.Task
		_ = s.View(func(tx ReadTx) error {
			all, _ := tx.FindTasks(All())
			if len(all) > 0 {
				existing = proto.CloneOf(rapid.SampledFrom(all).Draw(t, "victim"))
			}
			return nil
		})
		var bad *shoalv1.StoreAction
		kinds := []string{"update-missing", "remove-missing", "empty-id", "no-object"}
		if existing != nil {
			kinds = append(kinds, "create-existing", "update-stale", "remove-stale")
		}
		want := map[string]error{
			"update-missing": ErrNotExist, "remove-missing": ErrNotExist, "empty-id": ErrInvalidPayload,
			"no-object": ErrInvalidPayload, "create-existing": ErrExist, "update-stale": ErrSequenceConflict,
			"remove-stale": ErrSequenceConflict,
		}
		which := rapid.SampledFrom(kinds).Draw(t, "bad")
		switch which {
		case "update-missing":
			bad = &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE, Object: wrap(task("missing", "s", 1, ""))}
		case "remove-missing":
			bad = &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE, Object: wrap(&shoalv1.Task{Id: "missing"})}
		case "empty-id":
			bad = &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE, Object: wrap(&shoalv1.Task{})}
		case "no-object":
			bad = &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE}
		case "create-existing":
			bad = &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE, Object: wrap(existing)}
		case "update-stale":
			existing.Meta.Version += uint64(rapid.IntRange(1, 3).Draw(t, "delta"))
			bad = &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE, Object: wrap(existing)}
		case "remove-stale":
			existing.Meta.Version--
			bad = &shoalv1.StoreAction{Kind: shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE, Object: wrap(existing)}
		}
		pos := rapid.IntRange(0, len(actions)).Draw(t, "pos")
		actions = append(actions[:pos], append([]*shoalv1.StoreAction{bad}, actions[pos:]...)...)
		payload, err := proto.Marshal(&shoalv1.StoreRequest{Id: 1, Actions: actions})
		if err != nil {
			t.Fatal(err)
		}

		before, _ := s.Snapshot()
		events, cancel := s.Watch()
		defer cancel()
		index := s.AppliedIndex() + 1
		if err := s.Apply(index, payload); !errors.Is(err, want[which]) {
			t.Fatalf("%s at %d: err = %v", which, pos, err)
		}
		after, _ := s.Snapshot()
		if string(before) != string(after) {
			t.Fatalf("%s: state changed", which)
		}
		checkIndexes(t, s)
		// No event was published for the failed entry: the next one is the commit of an empty entry.
		empty, _ := proto.Marshal(&shoalv1.StoreRequest{})
		if err := s.Apply(index+1, empty); err != nil {
			t.Fatal(err)
		}
		if e := <-events; e.Kind != EventCommit || e.Index != index+1 {
			t.Fatalf("first event after failed entry = %v", e)
		}
	})
}

func TestPropertyWatchEventsFollowEntries(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := New(nil)
		events, cancel := s.Watch()
		defer cancel()
		type want struct {
			kind EventKind
			id   string
		}
		var expect []want
		entries := rapid.IntRange(1, 20).Draw(t, "entries")
		for i := range entries {
			var pool []string
			for _, n := range rapid.SliceOfNDistinct(rapid.IntRange(0, 9), 0, 5, rapid.ID).Draw(t, "ids") {
				pool = append(pool, fmt.Sprintf("t%d", n))
			}
			actions := genValidTaskActions(t, s, pool)
			payload, _ := proto.Marshal(&shoalv1.StoreRequest{Actions: actions})
			if err := s.Apply(uint64(i+1), payload); err != nil {
				t.Fatal(err)
			}
			for _, a := range actions {
				k := map[shoalv1.StoreActionKind]EventKind{
					shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE: EventCreate,
					shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE: EventUpdate,
					shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE: EventRemove,
				}[a.Kind]
				expect = append(expect, want{k, a.Object.GetTask().GetId()})
			}
			expect = append(expect, want{EventCommit, fmt.Sprint(i + 1)})
		}
		index := uint64(1)
		for j, w := range expect {
			e := <-events
			got := want{e.Kind, ""}
			if e.Kind == EventCommit {
				got.id = fmt.Sprint(e.Index)
				if e.Index != index {
					t.Fatalf("commit %d, want %d", e.Index, index)
				}
				index++
			} else {
				got.id = e.Object.GetId()
				if e.Index != index {
					t.Fatalf("event %v of entry %d", e, index)
				}
				if e.Kind == EventUpdate && (e.Old == nil || e.Old.GetMeta().GetVersion() >= e.Index) {
					t.Fatalf("update without a proper old object: %v", e)
				}
			}
			if got != w {
				t.Fatalf("event %d = %+v, want %+v", j, got, w)
			}
		}
	})
}

// A node-routed watcher (ViewAndWatchNode) carries exactly the object
// events a ForNode filter (and its own filters) selects from the full
// stream, and a commit marker for just the entries that had some: an entry
// whose events for the node its filters all drop does not reach it.
func TestPropertyNodeWatchMatchesForNode(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := New(nil)
		node := rapid.SampledFrom([]string{"n0", "n1"}).Draw(t, "node")
		kinds := rapid.SliceOfNDistinct(rapid.SampledFrom([]EventKind{EventCreate, EventUpdate, EventRemove}), 1, 3, rapid.ID).Draw(t, "kinds")
		all, cancelAll := s.Watch(ForNode(node), ForEventKind(kinds...))
		defer cancelAll()
		routed, err := s.ViewAndWatchNode(func(ReadTx) error { return nil }, node, ForEventKind(kinds...))
		if err != nil {
			t.Fatal(err)
		}
		defer routed.Cancel()
		rr := &nodeReader{nw: routed}
		entries := rapid.IntRange(1, 20).Draw(t, "entries")
		for i := range entries {
			var pool []string
			for _, n := range rapid.SliceOfNDistinct(rapid.IntRange(0, 9), 0, 5, rapid.ID).Draw(t, "ids") {
				pool = append(pool, fmt.Sprintf("t%d", n))
			}
			payload, _ := proto.Marshal(&shoalv1.StoreRequest{Actions: genValidTaskActions(t, s, pool)})
			if err := s.Apply(uint64(i+1), payload); err != nil {
				t.Fatal(err)
			}
		}
		// Expected: the filtered full stream, with commits kept only
		// after an entry's object events.
		var want []string
		objects := 0
		recv := func(ch <-chan Event) Event {
			select {
			case e := <-ch:
				return e
			case <-time.After(10 * time.Second):
				t.Fatal("no event")
			}
			return Event{}
		}
		for index := 0; index < entries; {
			e := recv(all)
			if e.Kind == EventCommit {
				index = int(e.Index)
				if objects > 0 {
					want = append(want, fmt.Sprintf("commit %d", e.Index))
				}
				objects = 0
				continue
			}
			objects++
			want = append(want, fmt.Sprintf("%v %s @%d", e.Kind, e.Object.GetId(), e.Index))
		}
		var got []string
		for len(got) < len(want) {
			e := rr.next(t)
			if e.Kind == EventCommit {
				got = append(got, fmt.Sprintf("commit %d", e.Index))
			} else {
				got = append(got, fmt.Sprintf("%v %s @%d", e.Kind, e.Object.GetId(), e.Index))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("routed events\n%q\nwant\n%q", got, want)
		}
		if extra := rr.rest(); len(extra) > 0 {
			t.Fatalf("extra routed events %v", extra)
		}
	})
}

// nodeReader reads a NodeWatch one event at a time.
type nodeReader struct {
	nw  *NodeWatch
	buf []Event
}

// next returns the next event, waiting up to 10 s for it.
func (r *nodeReader) next(t interface{ Fatal(...any) }) Event {
	for len(r.buf) == 0 {
		select {
		case <-r.nw.Ready():
			r.buf = append(r.buf, r.nw.Take()...)
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	}
	e := r.buf[0]
	r.buf = r.buf[1:]
	return e
}

// rest is what is left to read without waiting.
func (r *nodeReader) rest() []Event { return append(r.buf, r.nw.Take()...) }

func TestViewAndWatchNodeNeedsANode(t *testing.T) {
	if _, err := New(nil).ViewAndWatchNode(func(ReadTx) error { return nil }, ""); !errors.Is(err, ErrInvalidObject) {
		t.Fatalf("err = %v", err)
	}
}

func TestRestoreEndsNodeWatchers(t *testing.T) {
	s := New(nil)
	nw, err := s.ViewAndWatchNode(func(ReadTx) error { return nil }, "n1")
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Cancel()
	s.Close()
	r := &nodeReader{nw: nw}
	if e := r.next(t); e.Kind != EventResync || !errors.Is(e.Err, ErrStoreClosed) {
		t.Fatalf("event = %v", e)
	}
	if rest := r.rest(); len(rest) != 0 {
		t.Fatalf("events after the end: %v", rest)
	}
}
