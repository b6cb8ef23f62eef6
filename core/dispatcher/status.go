package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"

	"github.com/shoal-project/shoal/core/store"
)

// nodeUpdate is a queued write of a node's status (and description).
type nodeUpdate struct {
	state   shoalv1.NodeState
	message string
	desc    *shoalv1.NodeDescription // nil: keep
	addr    string                   // "": keep
	manager bool                     // role when the node must be created
	at      time.Time
}

type taskUpdate struct {
	nodeID string
	status *shoalv1.TaskStatus
}

// pendingWrites are the writes waiting for the next flush. Later writes of
// the same object replace earlier ones.
type pendingWrites struct {
	nodes map[string]nodeUpdate
	tasks map[string]taskUpdate
	// result is shared by the status reports waiting for this batch to be
	// stored; nil while none waits.
	result *flushResult
}

// flushResult is the outcome of one flush, for the reports it carries.
type flushResult struct {
	done chan struct{} // closed once the batch is stored or failed
	err  error         // set before done is closed
}

// waitLocked returns the result the current batch's reports wait on. d.mu is held.
func (p *pendingWrites) waitLocked() *flushResult {
	if p.result == nil {
		p.result = &flushResult{done: make(chan struct{})}
	}
	return p.result
}

func newPendingWrites() pendingWrites {
	return pendingWrites{nodes: make(map[string]nodeUpdate), tasks: make(map[string]taskUpdate)}
}

func (p *pendingWrites) len() int { return len(p.nodes) + len(p.tasks) }

// queueNodeLocked queues a node write. d.mu is held.
func (d *Dispatcher) queueNodeLocked(nodeID string, u nodeUpdate) {
	d.pending.nodes[nodeID] = u
	if d.pending.len() >= d.cfg.MaxBatchItems {
		signal(d.flushNow)
	}
}

// Forward reports whether a task's observed status may move from cur to
// next: the state must grow, or stay the same with a changed message or
// error (progress messages). States never move backward.
func Forward(cur, next *shoalv1.TaskStatus) bool {
	if next == nil {
		return false
	}
	if cur.GetState() != next.GetState() {
		return next.GetState() > cur.GetState()
	}
	return cur.GetMessage() != next.GetMessage() || cur.GetErr() != next.GetErr()
}

// ErrInvalidStatus is returned for a status report an agent may not make.
var ErrInvalidStatus = errors.New("dispatcher: invalid task status")

func validateUpdate(u *shoalv1.TaskStatusUpdate) error {
	if u.GetTaskId() == "" {
		return fmt.Errorf("%w: update without task id", ErrInvalidStatus)
	}
	st := u.GetStatus().GetState()
	if st < shoalv1.TaskState_TASK_STATE_ACCEPTED || st > shoalv1.TaskState_TASK_STATE_REJECTED {
		return fmt.Errorf("%w: task %s: an agent cannot report state %s", ErrInvalidStatus, u.GetTaskId(), st)
	}
	return nil
}

// UpdateTaskStatus queues the node's task status reports and answers once
// they are stored. Reports of many sessions are coalesced (group commit):
// the queue is flushed as one store.Batch as soon as no flush is in
// flight, so the reports that arrive while one proposal commits all go
// into the next. Reports that do not move a task forward are ignored (and
// answered at once). Tasks of other nodes are refused; unknown tasks are
// ignored. If the batch cannot be stored the call fails with Unavailable
// and the agent re-sends.
func (d *Dispatcher) UpdateTaskStatus(ctx context.Context, req *connect.Request[shoalv1.UpdateTaskStatusRequest]) (*connect.Response[shoalv1.UpdateTaskStatusResponse], error) {
	nodeID, _, err := d.caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := d.sessionOf(nodeID, req.Msg.GetSessionId()); err != nil {
		return nil, err
	}
	ups := req.Msg.GetUpdates()
	for _, u := range ups {
		if err := validateUpdate(u); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
	}
	accepted := make([]*shoalv1.TaskStatusUpdate, 0, len(ups))
	err = d.store.View(func(tx store.ReadTx) error {
		for _, u := range ups {
			o := tx.Get(store.KindTask, u.GetTaskId())
			if o == nil {
				continue
			}
			t := o.(*shoalv1.Task)
			if t.GetNodeId() != nodeID {
				return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("task %s is not assigned to node %s", t.GetId(), nodeID))
			}
			if Forward(t.GetStatus(), u.GetStatus()) {
				accepted = append(accepted, u)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	now := timestamppb.New(d.cfg.Clock.Now())
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("session %q: %w", req.Msg.GetSessionId(), ErrNotRunning))
	}
	for _, u := range accepted {
		prev, ok := d.pending.tasks[u.GetTaskId()]
		if ok && !Forward(prev.status, u.GetStatus()) {
			continue
		}
		st := proto.CloneOf(u.GetStatus())
		if st.Timestamp == nil {
			st.Timestamp = now
		}
		d.pending.tasks[u.GetTaskId()] = taskUpdate{nodeID: nodeID, status: st}
	}
	var res *flushResult
	if len(accepted) > 0 {
		// A report replaced by a newer one of the same batch waits for
		// that batch too.
		res = d.pending.waitLocked()
		signal(d.flushNow)
	}
	d.mu.Unlock()
	if res != nil {
		select {
		case <-res.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if res.err != nil {
			return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("task status reports not stored, send them again: %w", res.err))
		}
	}
	return connect.NewResponse(&shoalv1.UpdateTaskStatusResponse{}), nil
}

// flush writes the queued node and task updates through one store.Batch
// and then answers the reports waiting for them.
func (d *Dispatcher) flush(ctx context.Context) {
	d.mu.Lock()
	if d.pending.len() == 0 {
		d.mu.Unlock()
		return
	}
	p := d.pending
	d.pending = newPendingWrites()
	d.mu.Unlock()

	nodeIDs := make([]string, 0, len(p.nodes))
	for id := range p.nodes {
		nodeIDs = append(nodeIDs, id)
	}
	slices.Sort(nodeIDs)
	taskIDs := make([]string, 0, len(p.tasks))
	for id := range p.tasks {
		taskIDs = append(taskIDs, id)
	}
	slices.Sort(taskIDs)

	err := d.store.Batch(ctx, func(b *store.Batch) error {
		for _, id := range nodeIDs {
			u := p.nodes[id]
			if err := b.Update(func(tx store.Tx) error { return applyNode(tx, id, u) }); err != nil {
				if errors.Is(err, ctx.Err()) {
					return err
				}
				d.log.Warn("node status write failed", "node", id, "err", err)
			}
		}
		for _, id := range taskIDs {
			u := p.tasks[id]
			if err := b.Update(func(tx store.Tx) error { return applyTask(tx, id, u) }); err != nil {
				if errors.Is(err, ctx.Err()) {
					return err
				}
				d.log.Warn("task status write failed", "task", id, "err", err)
			}
		}
		return nil
	})
	if err != nil {
		d.log.Warn("status flush failed; updates dropped (task reports are answered Unavailable, so their agents send them again)", "nodes", len(nodeIDs), "tasks", len(taskIDs), "err", err)
	}
	if p.result != nil {
		p.result.err = err
		close(p.result.done)
	}
}

func applyNode(tx store.Tx, id string, u nodeUpdate) error {
	n := tx.GetNode(id)
	if n == nil {
		if u.state == shoalv1.NodeState_NODE_STATE_DOWN {
			return nil
		}
		role := shoalv1.NodeRole_NODE_ROLE_WORKER
		if u.manager {
			role = shoalv1.NodeRole_NODE_ROLE_MANAGER
		}
		n = &shoalv1.Node{
			Id:   id,
			Role: role,
			Spec: &shoalv1.NodeSpec{DesiredRole: role, Availability: shoalv1.NodeAvailability_NODE_AVAILABILITY_ACTIVE},
		}
		setNode(n, u)
		return tx.Create(n)
	}
	if u.state == shoalv1.NodeState_NODE_STATE_DOWN && n.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_DOWN {
		return nil
	}
	n = proto.CloneOf(n) // reads are shared: change a copy
	setNode(n, u)
	return tx.Update(n)
}

func setNode(n *shoalv1.Node, u nodeUpdate) {
	if u.desc != nil {
		n.Description = proto.CloneOf(u.desc)
	}
	if n.Status == nil {
		n.Status = &shoalv1.NodeStatus{}
	}
	n.Status.State = u.state
	n.Status.Message = u.message
	if u.addr != "" {
		n.Status.Addr = u.addr
	}
	if u.state == shoalv1.NodeState_NODE_STATE_READY {
		n.Status.LastHeartbeat = timestamppb.New(u.at)
	}
}

func applyTask(tx store.Tx, id string, u taskUpdate) error {
	t := tx.GetTask(id)
	if t == nil || t.GetNodeId() != u.nodeID || !Forward(t.GetStatus(), u.status) {
		return nil
	}
	t = store.ShallowCopy(t) // reads are shared: change a copy (the status is replaced, not changed)
	t.Status = u.status
	return tx.Update(t)
}
