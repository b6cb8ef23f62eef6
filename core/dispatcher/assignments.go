package dispatcher

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"

	"github.com/shoal-project/shoal/core/store"
)

// Assigned reports whether task t belongs in node nodeID's assignment set:
// placed on the node, at least ASSIGNED, and not to be removed.
func Assigned(t *shoalv1.Task, nodeID string) bool {
	return t.GetNodeId() == nodeID &&
		t.GetStatus().GetState() >= shoalv1.TaskState_TASK_STATE_ASSIGNED &&
		t.GetDesiredState() < shoalv1.TaskState_TASK_STATE_REMOVE
}

// sameForAgent reports whether a and b agree on everything the agent acts
// on: every field but Meta and the observed Status (which the agent itself
// reports), so status echoes are not sent back down. It reads both without
// copying; TestSameForAgentCoversEveryTaskField keeps the list complete.
func sameForAgent(a, b *shoalv1.Task) bool {
	if a == b {
		return true
	}
	return a.GetId() == b.GetId() && a.GetServiceId() == b.GetServiceId() &&
		a.GetServiceName() == b.GetServiceName() && a.GetSlot() == b.GetSlot() &&
		a.GetNodeId() == b.GetNodeId() && a.GetSpecVersion() == b.GetSpecVersion() &&
		a.GetDesiredState() == b.GetDesiredState() && a.GetScheduler() == b.GetScheduler() &&
		a.GetRebalanceTarget() == b.GetRebalanceTarget() && a.GetRebalanceFrom() == b.GetRebalanceFrom() &&
		(a.GetSpec() == b.GetSpec() || proto.Equal(a.GetSpec(), b.GetSpec())) &&
		(a.GetEndpoint() == b.GetEndpoint() || proto.Equal(a.GetEndpoint(), b.GetEndpoint())) &&
		slices.EqualFunc(a.GetNetworks(), b.GetNetworks(), func(x, y *shoalv1.Attachment) bool { return x == y || proto.Equal(x, y) }) &&
		bytes.Equal(a.ProtoReflect().GetUnknown(), b.ProtoReflect().GetUnknown())
}

// changesForAgent drops the task updates that cannot change what the node
// is sent: the task stays in (or out of) the node's set and the agent acts
// on nothing that changed (a status it reported itself, mostly). They are
// most of a busy cluster's task writes; dropped in the store's routing,
// they do not even wake the node's stream (streamIncrements would drop
// them too, one wake-up later).
func changesForAgent(nodeID string) store.EventFilter {
	return func(e store.Event) bool {
		if e.Kind != store.EventUpdate || e.ObjectKind != store.KindTask {
			return true
		}
		old, _ := e.Old.(*shoalv1.Task)
		t := e.Object.(*shoalv1.Task)
		in := Assigned(t, nodeID)
		return old == nil || Assigned(old, nodeID) != in || (in && !sameForAgent(old, t))
	}
}

// Assignments streams the node's assignment set: one COMPLETE message, then
// an INCREMENTAL message per store entry that changes it. Tasks are the
// store's shared read-only objects, sent without copying. When the store
// watch has to be re-established (the watcher fell behind, a snapshot was
// restored), a new COMPLETE set follows.
func (d *Dispatcher) Assignments(ctx context.Context, req *connect.Request[shoalv1.AssignmentsRequest], stream *connect.ServerStream[shoalv1.AssignmentsMessage]) error {
	nodeID, _, err := d.caller(ctx)
	if err != nil {
		return err
	}
	s, err := d.sessionOf(nodeID, req.Msg.GetSessionId())
	if err != nil {
		return err
	}
	var seq uint64
	for {
		// Waited on before the networks are read: a service change after
		// the read always wakes the stream (taken after the send, a change
		// in between was lost).
		mesh := d.mesh.wait()
		var tasks []*shoalv1.Task
		watch, err := d.store.ViewAndWatchNode(func(tx store.ReadTx) error {
			return tx.Range(store.KindTask, store.ByNode(nodeID), func(o store.Object) bool {
				// Shared store objects, read-only: they are only sent
				// (marshalled) and compared, never changed.
				if t := o.(*shoalv1.Task); Assigned(t, nodeID) {
					tasks = append(tasks, t)
				}
				return true
			})
		}, nodeID, store.ForKind(store.KindTask, store.KindNode), changesForAgent(nodeID))
		if err != nil {
			return connect.NewError(connect.CodeInternal, err)
		}
		known := make(map[string]*shoalv1.Task, len(tasks))
		for _, t := range tasks {
			known[t.GetId()] = t
		}
		seq++
		msg := &shoalv1.AssignmentsMessage{Type: shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_COMPLETE, Updates: tasks, Sequence: seq}
		msg.Networks, msg.IngressAddress = d.networksOf(nodeID, known)
		msg.Secrets, msg.Configs = d.filesOf(known)
		if err := stream.Send(msg); err != nil {
			watch.Cancel()
			return err
		}
		err = d.streamIncrements(ctx, s, stream, watch, mesh, nodeID, known, &seq, msg)
		watch.Cancel()
		if err != nil {
			return err
		}
		d.log.Debug("assignments: store watch ended; resending the complete set", "node", nodeID)
	}
}

// streamIncrements sends an INCREMENTAL message with the changes committed
// entries make to the node's set, collected for AssignmentBatch from the
// first, and one whenever the node's networks change without its tasks
// (its ingress address, services' published ports). It returns nil when
// the watch must be re-opened.
func (d *Dispatcher) streamIncrements(ctx context.Context, s *session, stream *connect.ServerStream[shoalv1.AssignmentsMessage], watch *store.NodeWatch, mesh <-chan struct{}, nodeID string, known map[string]*shoalv1.Task, seq *uint64, last *shoalv1.AssignmentsMessage) error {
	send := func(msg *shoalv1.AssignmentsMessage) error {
		msg.Networks, msg.IngressAddress = d.networksOf(nodeID, known)
		msg.Secrets, msg.Configs = d.filesOf(known)
		if len(msg.Updates)+len(msg.Removes) == 0 && sameNetworks(msg, last) {
			return nil
		}
		*seq++
		msg.Sequence = *seq
		last = msg
		return stream.Send(msg)
	}
	inc := &increments{nodeID: nodeID, known: known, changed: make(map[string]*shoalv1.Task)}
	due := make(chan struct{}, 1) // the batch collected since the first change is to be sent
	var batch Timer
	defer func() {
		if batch != nil {
			batch.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return connect.NewError(connect.CodeAborted, fmt.Errorf("session %s ended: open a new session", s.id))
		case <-mesh:
			// The networks changed: send them now, with the batch so far.
			mesh = d.mesh.wait()
			if batch != nil {
				batch.Stop()
				batch = nil
			}
			msg := inc.message()
			if msg == nil {
				msg = &shoalv1.AssignmentsMessage{Type: shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_INCREMENTAL}
			}
			if err := send(msg); err != nil {
				return err
			}
		case <-watch.Ready():
			for _, ev := range watch.Take() {
				if ev.Kind == store.EventResync {
					return nil
				}
				inc.note(ev)
			}
			if !inc.pending() || batch != nil {
				continue
			}
			if d.cfg.AssignmentBatch > 0 {
				batch = d.cfg.Clock.AfterFunc(d.cfg.AssignmentBatch, func() { signal(due) })
				continue
			}
			signal(due)
		case <-due:
			batch = nil
			if msg := inc.message(); msg != nil {
				if err := send(msg); err != nil {
					return err
				}
			}
		}
	}
}

// increments collects what committed entries change in a node's set.
type increments struct {
	nodeID    string
	known     map[string]*shoalv1.Task // the set as last sent (store objects, read-only)
	changed   map[string]*shoalv1.Task // since the last message; nil value: removed
	order     []string                 // changed's keys, first change first
	netsDirty bool                     // the node itself changed (its ingress address, say)
}

func (inc *increments) mark(id string, t *shoalv1.Task) {
	if _, ok := inc.changed[id]; !ok {
		inc.order = append(inc.order, id)
	}
	inc.changed[id] = t
}

// note takes one object event (commit markers change nothing).
func (inc *increments) note(ev store.Event) {
	if ev.ObjectKind == store.KindNode {
		inc.netsDirty = true
		return
	}
	switch ev.Kind {
	case store.EventCreate, store.EventUpdate:
		t := ev.Object.(*shoalv1.Task)
		id := t.GetId()
		if Assigned(t, inc.nodeID) {
			// A status-only change costs no copy and no message.
			prev, ok := inc.known[id]
			inc.known[id] = t
			if !ok || !sameForAgent(prev, t) {
				inc.mark(id, t)
			}
		} else if _, ok := inc.known[id]; ok {
			delete(inc.known, id)
			inc.mark(id, nil)
		}
	case store.EventRemove:
		id := ev.Object.GetId()
		if _, ok := inc.known[id]; ok {
			delete(inc.known, id)
			inc.mark(id, nil)
		}
	}
}

// pending says whether a message is due.
func (inc *increments) pending() bool { return len(inc.order) > 0 || inc.netsDirty }

// message is the INCREMENTAL message of what changed since the last one,
// or nil when nothing did.
func (inc *increments) message() *shoalv1.AssignmentsMessage {
	if !inc.pending() {
		return nil
	}
	inc.netsDirty = false
	msg := &shoalv1.AssignmentsMessage{Type: shoalv1.AssignmentsType_ASSIGNMENTS_TYPE_INCREMENTAL}
	for _, id := range inc.order {
		if t := inc.changed[id]; t != nil {
			msg.Updates = append(msg.Updates, t)
		} else {
			msg.Removes = append(msg.Removes, id)
		}
	}
	clear(inc.changed)
	inc.order = inc.order[:0]
	return msg
}

// sameNetworks says whether msg carries the networks last sent.
func sameNetworks(msg, last *shoalv1.AssignmentsMessage) bool {
	return msg.GetIngressAddress() == last.GetIngressAddress() &&
		slices.EqualFunc(msg.GetNetworks(), last.GetNetworks(), func(a, b *shoalv1.NetworkAssignment) bool { return proto.Equal(a, b) })
}
