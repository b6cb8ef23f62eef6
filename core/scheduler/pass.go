package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/rowstamp"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrPolicyFailed is wrapped by the errors policy failures are logged with.
var ErrPolicyFailed = errors.New("scheduler: policy failed")

// PassStats says what one pass did.
type PassStats struct {
	Pending       int // pending tasks considered
	Groups        int // task groups sent to policies
	Assigned      int // tasks committed as ASSIGNED
	Unschedulable int // tasks left PENDING
	Fallbacks     int // policy calls that failed and were redone natively
}

type groupKey struct {
	service string
	version uint64
	node    string // preset node (global services)
}

type group struct {
	key    groupKey
	tasks  []*shoalv1.Task // shared, read-only
	policy string
}

// pendingGroups groups the pending tasks still meant to run by service,
// spec version and preset node; order lists the keys as first met.
func pendingGroups(tx store.ReadTx) (groups map[groupKey]*group, order []groupKey, err error) {
	groups = make(map[groupKey]*group)
	err = tx.Range(store.KindTask, store.ByTaskState(statePending), func(obj store.Object) bool {
		t := obj.(*shoalv1.Task)
		k, ok := pendingKey(t)
		if !ok {
			return true
		}
		g := groups[k]
		if g == nil {
			g = &group{key: k}
			groups[k] = g
			order = append(order, k)
		}
		g.tasks = append(g.tasks, t)
		return true
	})
	return groups, order, err
}

type assignment struct {
	id, node, policy string
	note             string // why the fallback placed it, if it did
}

type failure struct {
	id, msg string
}

// holdingStates are the observed states in which an assigned task holds
// its node's resources.
var holdingStates = []shoalv1.TaskState{
	shoalv1.TaskState_TASK_STATE_ASSIGNED,
	shoalv1.TaskState_TASK_STATE_ACCEPTED,
	shoalv1.TaskState_TASK_STATE_PREPARING,
	shoalv1.TaskState_TASK_STATE_READY,
	shoalv1.TaskState_TASK_STATE_STARTING,
	shoalv1.TaskState_TASK_STATE_RUNNING,
}

// Pass runs one scheduling pass over every pending task. Run calls it;
// tests and simulations may call it directly (never concurrently with Run).
func (s *Scheduler) Pass(ctx context.Context) (PassStats, error) {
	assigns, fails, stats, err := s.plan(ctx)
	if err != nil {
		return stats, err
	}
	n, err := s.commit(ctx, assigns, fails)
	stats.Assigned = n
	return stats, err
}

// plan brings the tracker up to date, reads the services' policies and
// asks the policies; it writes nothing.
func (s *Scheduler) plan(ctx context.Context) ([]assignment, []failure, PassStats, error) {
	var stats PassStats
	if err := s.catchUp(ctx); err != nil {
		return nil, nil, stats, err
	}
	// Placements of earlier policy calls of the pass count in the node
	// table of later ones: the rows are the tracker's until the first such
	// change, then a copy, whose ServiceTasks maps are cloned before their
	// first change. The last call's placements change nothing.
	rows := s.tr.table()
	stamps := s.tr.stamps
	var owned []bool
	var touched []int // rows changed since the last policy call
	reserve := func(i int, tg *sdk.TaskGroup) {
		if owned == nil {
			rows, owned = slices.Clone(rows), make([]bool, len(rows))
			stamps = slices.Clone(stamps)
		}
		if !owned[i] {
			rows[i].ServiceTasks = maps.Clone(rows[i].ServiceTasks)
			owned[i] = true
			s.tr.touch(rows[i].ID)
		}
		reserveOn(&rows[i], tg.ServiceID, resources{cpu: tg.NanoCPUs, mem: tg.MemoryBytes})
		touched = append(touched, i)
	}
	groups := s.tr.groups()
	for _, g := range groups {
		stats.Pending += len(g.tasks)
	}
	if len(groups) == 0 {
		return nil, nil, stats, nil
	}
	err := s.st.View(func(tx store.ReadTx) error {
		defaultName := ""
		if err := tx.Range(store.KindCluster, store.All(), func(obj store.Object) bool {
			defaultName = obj.(*shoalv1.Cluster).GetSpec().GetDefaultScheduler()
			return false
		}); err != nil {
			return err
		}
		names := make(map[string]string)
		for k, g := range groups {
			name, ok := names[k.service]
			if !ok {
				svc := tx.GetService(k.service)
				if svc == nil {
					delete(groups, k) // the orchestrator removes its tasks
					continue
				}
				name = cmp.Or(svc.GetSpec().GetScheduler(), defaultName, PolicySpread)
				names[k.service] = name
			}
			g.policy = name
		}
		return nil
	})
	if err != nil {
		return nil, nil, stats, fmt.Errorf("scheduler: read: %w", err)
	}
	if len(groups) == 0 {
		return nil, nil, stats, nil
	}

	// One policy call per policy name, in a fixed order; placements of
	// earlier calls count in the node table of later ones.
	byPolicy := make(map[string][]*group)
	for _, g := range groups {
		byPolicy[g.policy] = append(byPolicy[g.policy], g)
	}
	names := make([]string, 0, len(byPolicy))
	for n := range byPolicy {
		names = append(names, n)
	}
	slices.Sort(names)
	var assigns []assignment
	var fails []failure
	for ni, name := range names {
		last := ni == len(names)-1
		gs := byPolicy[name]
		slices.SortFunc(gs, func(a, b *group) int {
			return cmp.Or(strings.Compare(a.key.service, b.key.service),
				cmp.Compare(a.key.version, b.key.version), strings.Compare(a.key.node, b.key.node))
		})
		req := &sdk.ScheduleRequest{Nodes: rows, Groups: make([]sdk.TaskGroup, len(gs))}
		for i, g := range gs {
			req.Groups[i] = taskGroup(g)
		}
		stats.Groups += len(gs)
		v := s.tr.next()
		for _, i := range touched {
			stamps[i] = v
		}
		touched = touched[:0]
		callCtx := rowstamp.NewContext(ctx, &rowstamp.Stamps{Source: s.tr.source, Version: v, Layout: s.tr.layout, Rows: stamps})
		resp, used, why := s.schedule(callCtx, name, req)
		if used == FallbackName {
			stats.Fallbacks++
		}
		if s.shadow != nil {
			s.shadow(used, req, resp) // before reserveOn changes req.Nodes
		}
		for gi, g := range gs {
			res := &resp.Groups[gi]
			tg := &req.Groups[gi]
			for ti, p := range res.Placements {
				t := g.tasks[ti]
				if p == sdk.Unschedulable {
					stats.Unschedulable++
					if msg := res.Message(); msg != t.GetStatus().GetErr() {
						fails = append(fails, failure{id: t.GetId(), msg: msg})
					}
					continue
				}
				if !last {
					reserve(int(p), tg)
				}
				assigns = append(assigns, assignment{id: t.GetId(), node: rows[p].ID, policy: used, note: why})
			}
		}
	}
	return assigns, fails, stats, nil
}

// catchUp brings the tracker up to date with the store: it follows the
// events published since its last pass, or reads the whole store when it
// has not started (first pass, after Run ended: a new term of leadership)
// or cannot trust its copy (watch overflow, snapshot restore).
func (s *Scheduler) catchUp(ctx context.Context) error {
	if s.tr.live() {
		err := s.tr.sync(ctx, s.st)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		s.log.Info("scheduler: rebuilding the node table", "reason", err)
	}
	return s.startTracker()
}

// startTracker reads the whole store into the tracker and follows it.
func (s *Scheduler) startTracker() error {
	s.fullReads++
	return s.tr.start(s.st)
}

// schedule asks the named policy, validates its answer and falls back to
// the native spread when it fails. It returns the answer and the name to
// record in the placed tasks.
func (s *Scheduler) schedule(ctx context.Context, name string, req *sdk.ScheduleRequest) (*sdk.ScheduleResponse, string, string) {
	var p Policy
	var err error
	if p, err = s.src.Policy(name); err != nil {
		if np, ok := Native(name); ok {
			p, err = np, nil
		}
	}
	if err == nil {
		var resp *sdk.ScheduleResponse
		resp, err = p.Schedule(ctx, req)
		switch {
		case err != nil:
		case resp == nil:
			err = errors.New("no answer")
		case resp.Error != "":
			err = errors.New(resp.Error)
		default:
			err = filter.Validate(req, resp)
		}
		if err == nil {
			return resp, name, ""
		}
	}
	s.log.Warn("scheduler: falling back to native spread", "policy", name,
		"err", fmt.Errorf("%w: %q: %w", ErrPolicyFailed, name, err))
	np, _ := Native(PolicySpread)
	resp, _ := np.Schedule(context.WithoutCancel(ctx), req)
	return resp, FallbackName, fmt.Sprintf("placed by the native spread fallback: scheduler %q failed: %v", name, err)
}

// commitChunk is how many task writes one b.Update makes: each Batch
// transaction costs an overlay and a write transaction of its own. A
// chunk is never split across proposals, so it stays small beside
// store.DefaultMaxChangesPerProposal.
const commitChunk = 100

// commit writes the placements and the reasons of the tasks left pending,
// commitChunk tasks per transaction of one store.Batch. Tasks that are no
// longer pending (or were preset on another node) are skipped.
func (s *Scheduler) commit(ctx context.Context, assigns []assignment, fails []failure) (int, error) {
	if len(assigns)+len(fails) == 0 {
		return 0, nil
	}
	ts := timestamppb.New(s.clock.Now())
	assigned := 0
	pending := func(tx store.Tx, id string) *shoalv1.Task {
		t := tx.GetTask(id)
		if t == nil || t.GetStatus().GetState() != statePending || t.GetDesiredState() > stateRunning {
			return nil
		}
		return t
	}
	err := s.st.Batch(ctx, func(b *store.Batch) error {
		for chunk := range slices.Chunk(assigns, commitChunk) {
			n := 0
			err := b.Update(func(tx store.Tx) error {
				n = 0
				for _, a := range chunk {
					t := pending(tx, a.id)
					if t == nil || (t.GetNodeId() != "" && t.GetNodeId() != a.node) {
						continue
					}
					msg := "scheduler assigned task to node"
					if a.note != "" {
						msg = a.note
					}
					// Reads are shared: change a copy. The spec stays
					// shared, the status is replaced.
					t = store.ShallowCopy(t)
					t.Status = newStatus(t.GetStatus(), stateAssigned, ts, msg, "")
					t.NodeId = a.node
					t.Scheduler = a.policy
					if err := tx.Update(t); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
			assigned += n
		}
		for chunk := range slices.Chunk(fails, commitChunk) {
			err := b.Update(func(tx store.Tx) error {
				for _, f := range chunk {
					t := pending(tx, f.id)
					if t == nil {
						continue
					}
					st := t.GetStatus()
					t = store.ShallowCopy(t)
					t.Status = newStatus(st, st.GetState(), st.GetTimestamp(), st.GetMessage(), f.msg)
					if err := tx.Update(t); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return assigned, fmt.Errorf("scheduler: commit: %w", err)
	}
	return assigned, nil
}

// taskStatusFields is how many fields newStatus carries over; a test
// fails when TaskStatus gains one, so that newStatus learns it.
const taskStatusFields = 8

// newStatus is old with state, timestamp, message and err replaced: a
// field-by-field copy, as proto.Clone's reflection cost as much as the
// rest of building an assignment.
func newStatus(old *shoalv1.TaskStatus, state shoalv1.TaskState, ts *timestamppb.Timestamp, msg, err string) *shoalv1.TaskStatus {
	st := &shoalv1.TaskStatus{
		State:     state,
		Timestamp: ts,
		Message:   msg,
		Err:       err,
		ExitCode:  old.GetExitCode(),
		OomKilled: old.GetOomKilled(),
		Addresses: old.GetAddresses(),
		Pid:       old.GetPid(),
	}
	if old == nil {
		return st
	}
	if u := old.ProtoReflect().GetUnknown(); len(u) > 0 {
		st.ProtoReflect().SetUnknown(u)
	}
	return st
}
