package orchestrator

import (
	"cmp"
	"slices"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// slotKey names a slot: a replica number for replicated services, a node
// for global ones.
type slotKey struct {
	slot uint64
	node string
}

type restartKey struct {
	service string
	key     slotKey
}

// taskRef names a task at the version the plan read.
type taskRef struct {
	service string
	id      string
	version uint64
}

type desiredChange struct {
	taskRef
	state shoalv1.TaskState
}

// plan is what one reconciliation pass writes.
type plan struct {
	changes  []desiredChange
	removes  []taskRef
	creates  []*shoalv1.Task
	versions map[string]uint64 // service -> spec version the creates were made from
	restarts []restartKey
	// services are update-status (and rollback) writes, made after the tasks'.
	services []serviceWrite
	// wakes holds, per service, the earliest time it must be looked at again.
	wakes map[string]time.Time
}

func newPlan() *plan {
	return &plan{versions: make(map[string]uint64), wakes: make(map[string]time.Time)}
}

func ref(t *shoalv1.Task) taskRef {
	return taskRef{service: t.GetServiceId(), id: t.GetId(), version: t.GetMeta().GetVersion()}
}

func (p *plan) change(t *shoalv1.Task, s shoalv1.TaskState) {
	p.changes = append(p.changes, desiredChange{taskRef: ref(t), state: s})
}

func (p *plan) remove(t *shoalv1.Task) { p.removes = append(p.removes, ref(t)) }

func (p *plan) wake(service string, at time.Time) {
	if w, ok := p.wakes[service]; !ok || at.Before(w) {
		p.wakes[service] = at
	}
}

// env is the cluster state a pass plans against.
type env struct {
	now          time.Time
	nodes        map[string]*shoalv1.Node
	historyLimit int
}

// planService decides the writes for one service (nil: removed) given all
// its tasks. The objects are shared and read-only.
func (o *Orchestrator) planService(p *plan, id string, svc *shoalv1.Service, tasks []*shoalv1.Task, e *env) {
	if svc == nil {
		planRemoved(p, tasks, e)
		return
	}
	global := svc.GetSpec().GetGlobal() != nil
	replicas := uint64(1)
	if r := svc.GetSpec().GetReplicated(); r != nil {
		replicas = r.GetReplicas()
	}

	var groups []slotGroup
	if global {
		groups = globalGroups(tasks, svc, e)
	} else {
		groups = replicatedGroups(tasks, replicas)
	}
	rp := svc.GetSpec().GetTask().GetRestart()
	r := &roll{shut: make(map[*shoalv1.Task]bool), global: global}
	for _, g := range groups {
		k, ts := g.key, g.tasks
		sortTasks(ts)
		var wanted, canCreate bool
		if global {
			n := e.nodes[k.node]
			wanted, canCreate = eligible(n, svc, false), eligible(n, svc, true)
		} else {
			wanted = k.slot >= 1 && k.slot <= replicas
			canCreate = wanted
		}
		if wanted {
			r.slots++
		}
		var lv []*shoalv1.Task
		for _, t := range ts {
			if live(t) {
				lv = append(lv, t)
			}
			if !outdated(t, svc) {
				r.current = append(r.current, t)
			}
			if !live(t) || t.GetStatus().GetState() != stateRunning {
				delete(o.running, t.GetId())
			}
		}
		shut := r.shut
		// Repair: never more than one live task per slot; keep the newest
		// (but a start-first replacement and its old task until it runs).
		for len(lv) > 1 && !(len(lv) == 2 && (replacingFirst(lv[0], lv[1], svc) || movingFirst(lv[0], lv[1]))) {
			p.change(lv[0], stateShutdown)
			shut[lv[0]] = true
			lv = lv[1:]
		}
		if len(lv) == 2 {
			if !terminal(lv[1].GetStatus().GetState()) && !outdated(lv[1], svc) && !moveLost(lv[1], e) {
				planHistory(p, ts, shut, false, wanted, e)
				continue // the old task serves until its replacement runs
			}
			p.change(lv[1], stateShutdown) // the replacement failed or is outdated: the old task stays
			shut[lv[1]] = true
			lv = lv[:1]
		}
		created := false
		if len(lv) == 1 {
			t := lv[0]
			obs := t.GetStatus().GetState()
			switch {
			case !wanted:
				p.change(t, stateShutdown)
				shut[t] = true
			case !global && t.GetNodeId() != "" && !terminal(obs) &&
				(nodeLost(e.nodes[t.GetNodeId()]) || nodeDrained(e.nodes[t.GetNodeId()])):
				p.change(t, stateShutdown)
				shut[t] = true
				o.create(p, svc, k, stateRunning, e.now)
				created = true
			case terminal(obs):
				rk := restartKey{service: svc.GetId(), key: k}
				p.change(t, stateShutdown)
				shut[t] = true
				if o.shouldRestart(rp, rk, obs, e.now) {
					d := restartDelay(rp)
					desired := stateRunning
					if d > 0 {
						desired = stateReady
						p.wake(svc.GetId(), e.now.Add(d))
					}
					o.create(p, svc, k, desired, e.now)
					p.restarts = append(p.restarts, rk)
					created = true
				} else {
					// The slot is finished: COMPLETE marks it.
					p.changes[len(p.changes)-1].state = stateComplete
				}
			case outdated(t, svc):
				r.outdated = append(r.outdated, t)
			case !global && wantsMove(t, ts) && obs == stateRunning:
				o.createMove(p, svc, t, e.now)
				created = true
			default:
				if t.GetDesiredState() < stateRunning {
					due := t.GetMeta().GetCreatedAt().AsTime().Add(restartDelay(rp))
					if e.now.Before(due) {
						p.wake(svc.GetId(), due)
					} else {
						p.change(t, stateRunning)
					}
				}
			}
		} else if canCreate && !finished(ts, svc) {
			o.create(p, svc, k, stateRunning, e.now)
			created = true
		}
		if created {
			r.created = append(r.created, k)
		}
		planHistory(p, ts, shut, created, wanted, e)
	}
	o.planRoll(p, svc, r, e.now)
}

// slotGroup is one slot's tasks.
type slotGroup struct {
	key   slotKey
	tasks []*shoalv1.Task
}

// replicatedGroups groups a replicated service's tasks by slot, slots
// 1..replicas always present, in slot order. Slots are indexed, not hashed:
// at 100,000 tasks a map of slot keys and its sort were half of a pass.
func replicatedGroups(tasks []*shoalv1.Task, replicas uint64) []slotGroup {
	in := make([][]*shoalv1.Task, replicas+1)
	var extra []*shoalv1.Task // slot 0 or above replicas
	for _, t := range tasks {
		if s := t.GetSlot(); s >= 1 && s <= replicas {
			in[s] = append(in[s], t)
		} else {
			extra = append(extra, t)
		}
	}
	slices.SortFunc(extra, func(a, b *shoalv1.Task) int { return cmp.Compare(a.GetSlot(), b.GetSlot()) })
	out := make([]slotGroup, 0, int(replicas)+len(extra))
	i := 0
	for ; i < len(extra) && extra[i].GetSlot() == 0; i++ {
		if i == 0 {
			out = append(out, slotGroup{key: slotKey{}})
		}
		out[0].tasks = append(out[0].tasks, extra[i])
	}
	for s := uint64(1); s <= replicas; s++ {
		out = append(out, slotGroup{key: slotKey{slot: s}, tasks: in[s]})
	}
	for ; i < len(extra); i++ {
		if n := len(out); n > 0 && out[n-1].key.slot == extra[i].GetSlot() {
			out[n-1].tasks = append(out[n-1].tasks, extra[i])
		} else {
			out = append(out, slotGroup{key: slotKey{slot: extra[i].GetSlot()}, tasks: []*shoalv1.Task{extra[i]}})
		}
	}
	return out
}

// globalGroups groups a global service's tasks by node, with an empty group
// for each eligible node without one, in node order.
func globalGroups(tasks []*shoalv1.Task, svc *shoalv1.Service, e *env) []slotGroup {
	groups := make(map[slotKey][]*shoalv1.Task)
	for _, t := range tasks {
		k := keyOf(t, true)
		groups[k] = append(groups[k], t)
	}
	for nid, n := range e.nodes {
		if k := (slotKey{node: nid}); groups[k] == nil && eligible(n, svc, true) {
			groups[k] = nil
		}
	}
	out := make([]slotGroup, 0, len(groups))
	for k, ts := range groups {
		out = append(out, slotGroup{key: k, tasks: ts})
	}
	slices.SortFunc(out, func(a, b slotGroup) int { return cmp.Compare(a.key.node, b.key.node) })
	return out
}

// forced reports whether the service's force_update counter moved since t
// was made: the service asks for its tasks to be replaced even though the
// rest of its template is the same (service update --force).
func forced(t *shoalv1.Task, svc *shoalv1.Service) bool {
	return t.GetSpec().GetForceUpdate() != svc.GetSpec().GetTask().GetForceUpdate()
}

// finished reports whether the slot's newest task ended for good under the
// current spec (its restart policy declined a restart).
func finished(ts []*shoalv1.Task, svc *shoalv1.Service) bool {
	if len(ts) == 0 {
		return false
	}
	last := ts[len(ts)-1]
	return last.GetDesiredState() == stateComplete && last.GetSpecVersion() == svc.GetSpecVersion()
}

// planHistory deletes stopped tasks of one slot beyond the history limit
// (all of them when the slot is no longer wanted). ts is oldest first; shut
// holds the tasks this pass shuts down.
func planHistory(p *plan, ts []*shoalv1.Task, shut map[*shoalv1.Task]bool, created, wanted bool, e *env) {
	excess := len(ts) - e.historyLimit
	if created {
		excess++
	}
	if !wanted {
		excess = len(ts)
	}
	for i, t := range ts {
		if excess <= 0 {
			return
		}
		if live(t) && !shut[t] || !stopped(t, e.nodes) {
			continue
		}
		if wanted && !created && i == len(ts)-1 {
			continue // the newest task of a wanted slot shows its outcome
		}
		p.remove(t)
		excess--
	}
}

// planRemoved handles the tasks of a deleted service: shut down what runs,
// delete what has stopped (or never started, or whose node is gone).
func planRemoved(p *plan, tasks []*shoalv1.Task, e *env) {
	for _, t := range tasks {
		if stopped(t, e.nodes) {
			p.remove(t)
		} else if live(t) {
			p.change(t, stateShutdown)
		}
	}
}

func (o *Orchestrator) create(p *plan, svc *shoalv1.Service, k slotKey, desired shoalv1.TaskState, now time.Time) {
	p.versions[svc.GetId()] = svc.GetSpecVersion()
	p.creates = append(p.creates, &shoalv1.Task{
		Id:          o.newID(),
		ServiceId:   svc.GetId(),
		ServiceName: svc.GetSpec().GetName(),
		Slot:        k.slot,
		NodeId:      k.node,
		// Stored objects are immutable: the service's tasks share its
		// TaskSpec instead of each holding a copy (BenchmarkStoreMemory).
		Spec:         svc.GetSpec().GetTask(),
		SpecVersion:  svc.GetSpecVersion(),
		DesiredState: desired,
		Status: &shoalv1.TaskStatus{
			State:     stateNew,
			Timestamp: timestamppb.New(now),
			Message:   "created",
		},
	})
}

// shouldRestart applies the restart policy to a task that stopped in state
// obs.
func (o *Orchestrator) shouldRestart(rp *shoalv1.RestartPolicy, rk restartKey, obs shoalv1.TaskState, now time.Time) bool {
	switch rp.GetCondition() {
	case shoalv1.RestartCondition_RESTART_CONDITION_NONE:
		return false
	case shoalv1.RestartCondition_RESTART_CONDITION_ON_FAILURE:
		if obs == stateComplete {
			return false
		}
	}
	if max := rp.GetMaxAttempts(); max > 0 {
		window := rp.GetWindow().AsDuration()
		var n uint64
		for _, at := range o.restarts[rk] {
			if window <= 0 || now.Sub(at) < window {
				n++
			}
		}
		if n >= max {
			return false
		}
	}
	return true
}
