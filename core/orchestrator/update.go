package orchestrator

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Swarm mode's update defaults, used when a service has no update (or
// rollback) config, and for an unset monitor window.
const (
	DefaultUpdateParallelism = 1
	DefaultUpdateMonitor     = 5 * time.Second
)

const (
	updUpdating          = shoalv1.UpdateState_UPDATE_STATE_UPDATING
	updPaused            = shoalv1.UpdateState_UPDATE_STATE_PAUSED
	updCompleted         = shoalv1.UpdateState_UPDATE_STATE_COMPLETED
	updRollbackStarted   = shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_STARTED
	updRollbackPaused    = shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_PAUSED
	updRollbackCompleted = shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED
)

// policy is an update (or rollback) config with the defaults applied.
type policy struct {
	parallelism int
	delay       time.Duration
	monitor     time.Duration
	action      shoalv1.UpdateFailureAction
	ratio       float64
	startFirst  bool
}

func policyOf(c *shoalv1.UpdateConfig) policy {
	if c == nil {
		return policy{parallelism: DefaultUpdateParallelism, monitor: DefaultUpdateMonitor}
	}
	p := policy{
		parallelism: int(max(c.GetParallelism(), 0)),
		delay:       max(c.GetDelay().AsDuration(), 0),
		monitor:     DefaultUpdateMonitor,
		action:      c.GetFailureAction(),
		ratio:       c.GetMaxFailureRatio(),
		startFirst:  c.GetOrder() == shoalv1.UpdateOrder_UPDATE_ORDER_START_FIRST,
	}
	if c.GetMonitor() != nil {
		p.monitor = max(c.GetMonitor().AsDuration(), 0)
	}
	return p
}

// policyFor is the policy that rolls svc's current spec version: the
// rollback config while it rolls back.
func policyFor(svc *shoalv1.Service) policy {
	if taskspec.RollingBack(svc) {
		return policyOf(svc.GetSpec().GetRollbackConfig())
	}
	return policyOf(svc.GetSpec().GetUpdateConfig())
}

// outdated reports whether a live task must be replaced by the roll.
func outdated(t *shoalv1.Task, svc *shoalv1.Service) bool {
	return !taskspec.Current(t, svc) || forced(t, svc)
}

// replacingFirst reports whether nw is old's start-first replacement that
// does not run (yet, or any more): both stay live until it runs, and the
// old one stays if it fails or its spec is outdated in turn.
func replacingFirst(old, nw *shoalv1.Task, svc *shoalv1.Service) bool {
	return outdated(old, svc) && nw.GetStatus().GetState() != stateRunning
}

// roll is what a pass saw of one service's update: the live outdated tasks
// in slot order, the tasks of the current spec, and how many tasks the pass
// creates.
type roll struct {
	outdated []*shoalv1.Task
	current  []*shoalv1.Task
	created  []slotKey
	slots    int
	shut     map[*shoalv1.Task]bool
	global   bool
}

// progress is how far the current batch is: tasks not yet counted as
// updated, when the last one will be, and when the last batch ended.
type progress struct {
	inFlight int
	nextWake time.Time
	lastDone time.Time
	failures []*shoalv1.Task
}

// measure walks the current-spec tasks: a live one counts as updated once it
// has been RUNNING for the monitor window (timed from when this leader
// first saw it RUNNING, so a new leader monitors again: never shorter), one
// that ended other than by being shut down counts as a failure.
func (o *Orchestrator) measure(r *roll, pol policy, now time.Time) progress {
	var pr progress
	failedSlot := make(map[slotKey]bool)
	for _, t := range r.current {
		if obs := t.GetStatus().GetState(); terminal(obs) && obs != stateShutdown {
			pr.failures = append(pr.failures, t)
			failedSlot[keyOf(t, r.global)] = true
		}
	}
	// A failed slot does not hold the roll up when failures are tolerated.
	tolerated := func(k slotKey) bool {
		return pol.action == shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE && failedSlot[k]
	}
	for _, k := range r.created {
		if !tolerated(k) {
			pr.inFlight++
		}
	}
	for _, t := range r.current {
		if !live(t) || r.shut[t] || terminal(t.GetStatus().GetState()) || tolerated(keyOf(t, r.global)) {
			continue
		}
		if t.GetStatus().GetState() < stateRunning {
			pr.inFlight++
			continue
		}
		done := o.runningSince(t.GetId(), now).Add(max(pol.monitor, healthWindow(t.GetSpec())))
		if now.Before(done) {
			pr.inFlight++
			if pr.nextWake.IsZero() || done.Before(pr.nextWake) {
				pr.nextWake = done
			}
		} else if done.After(pr.lastDone) {
			pr.lastDone = done
		}
	}
	return pr
}

// The health-check defaults of the container backend (docker's).
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthRetries  = 3
)

// healthWindow is how long a task with a health check must run before it
// can count as updated: the backend reports no "healthy", only FAILED once
// the check failed retries times in a row after the start period, so the
// task must outlive the earliest moment a failing check can fail it.
func healthWindow(spec *shoalv1.TaskSpec) time.Duration {
	hc := spec.GetContainer().GetHealthcheck()
	if t := hc.GetTest(); len(t) == 0 || len(t) == 1 && strings.EqualFold(t[0], "NONE") {
		return 0
	}
	interval := hc.GetInterval().AsDuration()
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	retries := time.Duration(hc.GetRetries())
	if retries == 0 {
		retries = defaultHealthRetries
	}
	return max(hc.GetStartPeriod().AsDuration(), 0) + retries*interval
}

// runningSince is when this leader first saw task id RUNNING.
func (o *Orchestrator) runningSince(id string, now time.Time) time.Time {
	at, ok := o.running[id]
	if !ok {
		o.running[id] = now
		return now
	}
	return at
}

// planRoll drives svc's rolling update one step: it starts the roll's
// status, applies the failure action, marks the roll complete, or starts
// the next batch once the last one is updated and the delay has passed.
func (o *Orchestrator) planRoll(p *plan, svc *shoalv1.Service, r *roll, now time.Time) {
	id := svc.GetId()
	delete(o.updating, id)
	st := svc.GetUpdateStatus()
	if st.GetSpecVersion() != svc.GetSpecVersion() {
		if len(r.outdated) == 0 {
			return
		}
		st = &shoalv1.UpdateStatus{State: updUpdating, StartedAt: timestamppb.New(now), SpecVersion: svc.GetSpecVersion(), Message: "update in progress"}
		p.setStatus(svc, st)
	}
	if st.GetState() == updPaused || st.GetState() == updRollbackPaused {
		return // until the next spec change or a rollback
	}
	active := st.GetState() == updUpdating || st.GetState() == updRollbackStarted
	if !active && len(r.outdated) == 0 {
		return // rolled: new tasks (scaling, restarts) need no monitoring
	}
	pol := policyFor(svc)
	pr := o.measure(r, pol, now)
	if active && failedPastRatio(pr.failures, r.slots, pol.ratio) && o.applyFailureAction(p, svc, st, pol, pr.failures[0], now) {
		return
	}
	o.updating[id] = true
	if pr.inFlight > 0 {
		if !pr.nextWake.IsZero() {
			p.wake(id, pr.nextWake)
		}
		return
	}
	if len(r.outdated) == 0 {
		delete(o.updating, id)
		for _, t := range r.current {
			delete(o.running, t.GetId())
		}
		p.setStatus(svc, finishedStatus(st, now))
		return
	}
	if next := pr.lastDone.Add(pol.delay); !pr.lastDone.IsZero() && now.Before(next) {
		p.wake(id, next)
		return
	}
	o.startBatch(p, svc, r, pol, now)
}

// startBatch replaces the next outdated tasks: up to parallelism of them,
// the old task stopped first or, start-first, left running beside its
// replacement.
func (o *Orchestrator) startBatch(p *plan, svc *shoalv1.Service, r *roll, pol policy, now time.Time) {
	// Tasks that do not run serve nobody: replace them first.
	slices.SortStableFunc(r.outdated, func(a, b *shoalv1.Task) int {
		return cmp.Compare(btoi(a.GetStatus().GetState() == stateRunning), btoi(b.GetStatus().GetState() == stateRunning))
	})
	n := len(r.outdated)
	if pol.parallelism > 0 {
		n = min(n, pol.parallelism)
	}
	for _, t := range r.outdated[:n] {
		if !pol.startFirst {
			p.change(t, stateShutdown)
		}
		o.create(p, svc, keyOf(t, r.global), stateRunning, now)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keyOf is the slot t holds: its replica number, or its node for a global
// service.
func keyOf(t *shoalv1.Task, global bool) slotKey {
	if global {
		return slotKey{node: t.GetNodeId()}
	}
	return slotKey{slot: t.GetSlot()}
}

func failedPastRatio(failures []*shoalv1.Task, slots int, ratio float64) bool {
	return len(failures) > 0 && float64(len(failures))/float64(max(slots, 1)) > ratio
}

// applyFailureAction pauses or rolls back the roll; it returns false when
// the action is continue.
func (o *Orchestrator) applyFailureAction(p *plan, svc *shoalv1.Service, st *shoalv1.UpdateStatus, pol policy, failed *shoalv1.Task, now time.Time) bool {
	why := failureText(failed)
	back := st.GetState() == updRollbackStarted
	switch {
	case pol.action == shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_CONTINUE:
		return false
	case pol.action == shoalv1.UpdateFailureAction_UPDATE_FAILURE_ACTION_ROLLBACK && !back && svc.GetPreviousSpec() != nil:
		p.rollback(svc, "update rolled back due to failure: "+why, now)
	case back:
		p.setStatus(svc, &shoalv1.UpdateStatus{State: updRollbackPaused, StartedAt: st.GetStartedAt(), SpecVersion: st.GetSpecVersion(),
			Message: "rollback paused due to failure: " + why})
	default:
		p.setStatus(svc, &shoalv1.UpdateStatus{State: updPaused, StartedAt: st.GetStartedAt(), SpecVersion: st.GetSpecVersion(),
			Message: "update paused due to failure: " + why})
	}
	delete(o.updating, svc.GetId())
	return true
}

func failureText(t *shoalv1.Task) string {
	s := t.GetStatus()
	return fmt.Sprintf("task %s (slot %d) %s: %s", t.GetId(), t.GetSlot(), stateName(s.GetState()),
		cmp.Or(s.GetErr(), fmt.Sprintf("exit code %d", s.GetExitCode())))
}

func stateName(s shoalv1.TaskState) string {
	n := s.String()
	if len(n) > len("TASK_STATE_") {
		n = n[len("TASK_STATE_"):]
	}
	return n
}

func finishedStatus(st *shoalv1.UpdateStatus, now time.Time) *shoalv1.UpdateStatus {
	out := &shoalv1.UpdateStatus{State: updCompleted, StartedAt: st.GetStartedAt(), CompletedAt: timestamppb.New(now),
		SpecVersion: st.GetSpecVersion(), Message: "update completed"}
	if st.GetState() == updRollbackStarted {
		out.State, out.Message = updRollbackCompleted, "rollback completed ("+st.GetMessage()+")"
	}
	return out
}

// serviceWrite is a change of a service the plan read at version.
type serviceWrite struct {
	id      string
	version uint64
	status  *shoalv1.UpdateStatus
	// rollback swaps spec and previous_spec and bumps spec_version first.
	rollback bool
}

// setStatus plans writing svc's update status (the last one planned wins).
func (p *plan) setStatus(svc *shoalv1.Service, st *shoalv1.UpdateStatus) *serviceWrite {
	for i := range p.services {
		if p.services[i].id == svc.GetId() {
			p.services[i].status = st
			return &p.services[i]
		}
	}
	p.services = append(p.services, serviceWrite{id: svc.GetId(), version: svc.GetMeta().GetVersion(), status: st})
	return &p.services[len(p.services)-1]
}

func (p *plan) rollback(svc *shoalv1.Service, msg string, now time.Time) {
	p.setStatus(svc, &shoalv1.UpdateStatus{State: updRollbackStarted, StartedAt: timestamppb.New(now),
		SpecVersion: svc.GetSpecVersion() + 1, Message: msg}).rollback = true
}

// apply writes w to s (read in the same transaction).
func (w serviceWrite) apply(s *shoalv1.Service) {
	if w.rollback {
		s.Spec, s.PreviousSpec = s.GetPreviousSpec(), s.GetSpec()
		s.SpecVersion++
	}
	s.UpdateStatus = proto.CloneOf(w.status)
}
