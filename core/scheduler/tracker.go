package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/rowstamp"
	"github.com/shoal-project/shoal/sdk"
)

// errWatchClosed: the tracker's event channel closed without a resync
// event.
var errWatchClosed = errors.New("scheduler: watch closed")

// tracker keeps what a pass needs between passes, from store events: the
// node table (a row per node with the resources and task counts of the
// tasks that hold them) and the pending tasks grouped as pendingGroups
// groups them. It starts with a full read of the store (start) and then
// follows the entries applied after that read (apply); sync catches up
// with the store before a pass. Its state is always what nodeTable and
// pendingGroups would read from the store at the index it reflects (the
// property test checks it). It is owned by the goroutine that runs passes.
type tracker struct {
	events <-chan store.Event // nil: not started
	cancel func()
	index  uint64 // the store's PublishedIndex this state reflects
	broken error  // set when an event contradicts the state: rebuild

	nodes   map[string]*shoalv1.Node // shared, read-only
	loads   map[string]*nodeLoad     // by node ID (nodes not stored too)
	rows    []sdk.Node               // by node ID; maps shared with loads
	pos     map[string]int           // node ID -> row
	reorder bool                     // the node set changed: rebuild rows
	changed map[string]struct{}      // nodes whose rows are stale

	pending map[groupKey]*pendingSet

	// Row stamps (internal/rowstamp) tell the plugin host which rows
	// changed since a table it holds: source names this tracker's life,
	// ver counts tables, stamps[i] is when rows[i] last changed, layout
	// when the set of rows last did.
	source, ver, layout uint64
	stamps              []uint64
}

// nodeLoad is what the tasks holding resources on one node add up to.
type nodeLoad struct {
	cpu, mem int64
	count    uint32
	services map[string]uint32
}

// pendingSet is one group's pending tasks; sorted is by ID (the order
// pendingGroups reads them in), rebuilt when dirty.
type pendingSet struct {
	tasks  map[string]*shoalv1.Task
	sorted []*shoalv1.Task
	dirty  bool
}

func (tr *tracker) live() bool { return tr.events != nil }

// stop ends the subscription and forgets the state.
func (tr *tracker) stop() {
	if tr.cancel != nil {
		tr.cancel()
	}
	*tr = tracker{}
}

// start reads the whole store and subscribes to what follows the read.
func (tr *tracker) start(st *store.Store) error {
	tr.stop()
	events, cancel, err := st.ViewAndWatch(func(tx store.ReadTx) error {
		tr.index = st.PublishedIndex() // stable: the view holds the store
		return tr.rebuild(tx)
	}, store.ForKind(store.KindTask, store.KindNode, store.KindCluster))
	if err != nil {
		*tr = tracker{}
		return fmt.Errorf("scheduler: read: %w", err)
	}
	tr.events, tr.cancel = events, cancel
	tr.source = rowstamp.NewSource()
	return nil
}

// rebuild reads the state from tx.
func (tr *tracker) rebuild(tx store.ReadTx) error {
	tr.nodes = make(map[string]*shoalv1.Node)
	tr.loads = make(map[string]*nodeLoad)
	tr.changed = make(map[string]struct{})
	tr.pending = make(map[groupKey]*pendingSet)
	tr.reorder = true
	if err := tx.Range(store.KindNode, store.All(), func(o store.Object) bool {
		tr.nodes[o.GetId()] = o.(*shoalv1.Node)
		return true
	}); err != nil {
		return err
	}
	for _, s := range holdingStates {
		if err := tx.Range(store.KindTask, store.ByTaskState(s), func(o store.Object) bool {
			tr.taskIn(o.(*shoalv1.Task))
			return true
		}); err != nil {
			return err
		}
	}
	return tx.Range(store.KindTask, store.ByTaskState(statePending), func(o store.Object) bool {
		tr.taskIn(o.(*shoalv1.Task))
		return true
	})
}

// sync applies the events of every entry published so far. An error means
// the state cannot be trusted (resync event, closed channel, an event that
// contradicts it) or ctx ended.
func (tr *tracker) sync(ctx context.Context, st *store.Store) error {
	target := st.PublishedIndex()
	for tr.broken == nil && tr.index < target {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-tr.events:
			if !ok {
				return errWatchClosed
			}
			if ev.Kind == store.EventResync {
				return ev.Err
			}
			tr.apply(ev)
		}
	}
	return tr.broken
}

// apply follows one event.
func (tr *tracker) apply(ev store.Event) {
	switch ev.Kind {
	case store.EventCommit:
		tr.index = ev.Index
		return
	case store.EventResync:
		tr.broken = ev.Err
		return
	}
	switch ev.ObjectKind {
	case store.KindNode:
		n := ev.Object.(*shoalv1.Node)
		id := n.GetId()
		_, had := tr.nodes[id]
		switch {
		case ev.Kind == store.EventRemove:
			delete(tr.nodes, id)
			tr.reorder = tr.reorder || had
		default:
			tr.nodes[id] = n
			tr.reorder = tr.reorder || !had
		}
		tr.changed[id] = struct{}{}
	case store.KindTask:
		t := ev.Object.(*shoalv1.Task)
		switch ev.Kind {
		case store.EventCreate:
			tr.taskIn(t)
		case store.EventRemove:
			tr.taskOut(t)
		case store.EventUpdate:
			old, _ := ev.Old.(*shoalv1.Task)
			if old == nil {
				tr.broken = fmt.Errorf("scheduler: update of task %s without its old version", t.GetId())
				return
			}
			if !sameLoad(old, t) {
				tr.loadOut(old)
				tr.loadIn(t)
			}
			tr.pendingOut(old)
			tr.pendingIn(t)
		}
	}
}

// sameLoad reports whether two versions of a task hold the same resources
// on the same node (status updates of running tasks).
func sameLoad(a, b *shoalv1.Task) bool {
	ha, hb := holds(a), holds(b)
	if !ha || !hb {
		return ha == hb
	}
	return a.GetNodeId() == b.GetNodeId() && a.GetServiceId() == b.GetServiceId() &&
		reservations(a.GetSpec()) == reservations(b.GetSpec())
}

func (tr *tracker) taskIn(t *shoalv1.Task)  { tr.loadIn(t); tr.pendingIn(t) }
func (tr *tracker) taskOut(t *shoalv1.Task) { tr.loadOut(t); tr.pendingOut(t) }

func (tr *tracker) loadIn(t *shoalv1.Task) {
	if !holds(t) {
		return
	}
	id := t.GetNodeId()
	l := tr.loads[id]
	if l == nil {
		l = &nodeLoad{services: make(map[string]uint32)}
		tr.loads[id] = l
	}
	r := reservations(t.GetSpec())
	l.cpu += r.cpu
	l.mem += r.mem
	l.count++
	l.services[t.GetServiceId()]++
	tr.changed[id] = struct{}{}
}

func (tr *tracker) loadOut(t *shoalv1.Task) {
	if !holds(t) {
		return
	}
	id, svc := t.GetNodeId(), t.GetServiceId()
	l := tr.loads[id]
	if l == nil || l.services[svc] == 0 {
		tr.broken = fmt.Errorf("scheduler: task %s left node %s without having been counted there", t.GetId(), id)
		return
	}
	r := reservations(t.GetSpec())
	l.cpu -= r.cpu
	l.mem -= r.mem
	l.count--
	if l.services[svc]--; l.services[svc] == 0 {
		delete(l.services, svc)
	}
	if l.count == 0 {
		delete(tr.loads, id)
	}
	tr.changed[id] = struct{}{}
}

// pendingKey says whether pendingGroups takes t, and into which group.
func pendingKey(t *shoalv1.Task) (groupKey, bool) {
	if t.GetStatus().GetState() != statePending || t.GetDesiredState() > stateRunning {
		return groupKey{}, false
	}
	return groupKey{service: t.GetServiceId(), version: t.GetSpecVersion(), node: t.GetNodeId()}, true
}

func (tr *tracker) pendingIn(t *shoalv1.Task) {
	k, ok := pendingKey(t)
	if !ok {
		return
	}
	p := tr.pending[k]
	if p == nil {
		p = &pendingSet{tasks: make(map[string]*shoalv1.Task)}
		tr.pending[k] = p
	}
	p.tasks[t.GetId()] = t
	p.dirty = true
}

func (tr *tracker) pendingOut(t *shoalv1.Task) {
	k, ok := pendingKey(t)
	if !ok {
		return
	}
	p := tr.pending[k]
	if p == nil {
		tr.broken = fmt.Errorf("scheduler: pending task %s was not tracked", t.GetId())
		return
	}
	delete(p.tasks, t.GetId())
	p.dirty = true
	if len(p.tasks) == 0 {
		delete(tr.pending, k)
	}
}

// table returns the node table: the tracker's own, which the caller
// copies before changing rows, and clones a row's ServiceTasks before
// changing it. tr.stamps stamps its rows.
func (tr *tracker) table() []sdk.Node {
	if len(tr.changed) == 0 && !tr.reorder {
		return tr.rows
	}
	tr.ver++
	if tr.reorder {
		ids := make([]string, 0, len(tr.nodes))
		for id := range tr.nodes {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		tr.rows = make([]sdk.Node, len(ids))
		tr.stamps = make([]uint64, len(ids))
		tr.pos = make(map[string]int, len(ids))
		for i, id := range ids {
			tr.pos[id] = i
			tr.rows[i] = tr.row(tr.nodes[id])
			tr.stamps[i] = tr.ver
		}
		tr.reorder, tr.layout = false, tr.ver
	} else {
		for id := range tr.changed {
			if i, ok := tr.pos[id]; ok {
				tr.rows[i] = tr.row(tr.nodes[id])
				tr.stamps[i] = tr.ver
			}
		}
	}
	clear(tr.changed)
	return tr.rows
}

// next returns a version for a table sent now: higher than every stamp.
func (tr *tracker) next() uint64 {
	tr.ver++
	return tr.ver
}

// touch marks a node's row changed: a pass changed a copy of it, so the
// table a policy last got differs from the tracker's there.
func (tr *tracker) touch(id string) { tr.changed[id] = struct{}{} }

// row is n's row with the load of its tasks.
func (tr *tracker) row(n *shoalv1.Node) sdk.Node {
	r := nodeRow(n)
	if l := tr.loads[n.GetId()]; l != nil {
		r.FreeNanoCPUs -= l.cpu
		r.FreeMemoryBytes -= l.mem
		r.TaskCount = l.count
		r.ServiceTasks = l.services
	}
	return r
}

// groups returns the pending groups as pendingGroups would read them. The
// groups are new; their task slices are the tracker's (read-only).
func (tr *tracker) groups() map[groupKey]*group {
	out := make(map[groupKey]*group, len(tr.pending))
	for k, p := range tr.pending {
		if p.dirty {
			p.sorted = make([]*shoalv1.Task, 0, len(p.tasks)) // the old one may be in use
			for _, t := range p.tasks {
				p.sorted = append(p.sorted, t)
			}
			slices.SortFunc(p.sorted, func(a, b *shoalv1.Task) int { return strings.Compare(a.GetId(), b.GetId()) })
			p.dirty = false
		}
		out[k] = &group{key: k, tasks: p.sorted}
	}
	return out
}
