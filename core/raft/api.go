package raft

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Propose replicates payload and returns once it is committed and applied
// locally, with the error Apply returned for it. On a follower it returns
// ErrNotLeader; after Stop, ErrStopped. When ctx ends first the entry may
// still commit later.
func (n *Node) Propose(ctx context.Context, payload []byte) error {
	return n.ProposeDecoded(ctx, payload, nil)
}

// ProposeDecoded is Propose that keeps decoded, the in-memory value payload
// was marshalled from, beside the proposal: when the entry is applied on
// this member and is still this proposal (same origin, request ID and
// bytes), a state machine implementing DecodedApplier gets decoded and
// need not decode payload again. Followers and replays decode as usual.
// The caller hands decoded over: it must not change after the call.
func (n *Node) ProposeDecoded(ctx context.Context, payload []byte, decoded any) error {
	p := &proposal{payload: payload, decoded: decoded, done: make(chan error, 1)}
	if err := submit(ctx, n, n.propc, p); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("raft: proposal not applied yet (it may still commit): %w", ctx.Err())
	case <-n.done:
		return ErrStopped
	}
}

// ReadBarrier returns once this node's state machine reflects every write
// committed before the call: the leader confirms its leadership with a
// quorum (ReadIndex) and waits until it has applied up to the read index.
// ErrNotLeader on followers.
func (n *Node) ReadBarrier(ctx context.Context) error {
	r := &readReq{done: make(chan error, 1)}
	if err := submit(ctx, n, n.readc, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// Step hands a message received from a peer to raft. It blocks only while
// the node's inbound queue is full.
func (n *Node) Step(ctx context.Context, m *pb.Message) error {
	n.pub.mu.Lock()
	removed := n.pub.removed[m.GetFrom()]
	n.pub.mu.Unlock()
	if removed {
		return fmt.Errorf("%w: %x", ErrRemovedMember, m.GetFrom())
	}
	return submit(ctx, n, n.recvc, m)
}

// WasRemoved reports whether member raftID was removed from the group (as
// far as this member has applied).
func (n *Node) WasRemoved(raftID uint64) bool {
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	return n.pub.removed[raftID]
}

// submit hands v to the node's goroutine on ch, giving up when ctx ends or
// the node stops.
func submit[T any](ctx context.Context, n *Node, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// ReportUnreachable implements Reporter; it never blocks.
func (n *Node) ReportUnreachable(raftID uint64) { n.addReport(report{id: raftID}) }

// ReportSnapshot implements Reporter; it never blocks.
func (n *Node) ReportSnapshot(raftID uint64, failed bool) {
	n.addReport(report{id: raftID, snapshot: true, snapFailed: failed})
}

// ReportRemoved implements RemovalReporter; it never blocks.
func (n *Node) ReportRemoved() { n.addReport(report{removed: true}) }

func (n *Node) addReport(r report) {
	n.reportMu.Lock()
	n.reports = append(n.reports, r)
	n.reportMu.Unlock()
	select {
	case n.reportc <- struct{}{}:
	default:
	}
}

// AddMember adds a manager to the group as a learner (leader only) and
// returns once the change is applied: the new member's Raft ID and the
// membership to hand to Join on the new member. A learner does not vote and
// does not count towards the quorum, so adding one never costs the group its
// quorum, even if it never starts; the leader promotes it to a voter once it
// has caught up (Member.Learner turns false). It refuses when nodeID is
// already a member (ErrMemberExists). While another change, a promotion
// included, is pending, it waits for it (until ctx ends, then
// ErrConfChangeInProgress).
func (n *Node) AddMember(ctx context.Context, nodeID, addr string) (uint64, []Member, error) {
	if nodeID == "" || addr == "" {
		return 0, nil, fmt.Errorf("%w: node ID and address are required", ErrInvalidConfig)
	}
	res, err := n.conf(ctx, &confReq{kind: confAdd, nodeID: nodeID, addr: addr})
	if err != nil {
		return 0, nil, err
	}
	return res.raftID, res.members, nil
}

// RemoveMember removes a manager, voter or learner (leader only), and
// returns once the change is applied. It refuses to remove the last voter
// (ErrLastManager) or a voter whose removal would leave fewer reachable
// voters than the new quorum (ErrCannotRemoveMember). Removing a learner
// leaves the quorum as it is.
func (n *Node) RemoveMember(ctx context.Context, raftID uint64) error {
	_, err := n.conf(ctx, &confReq{kind: confRemove, raftID: raftID})
	return err
}

// Leave removes this member from the group. Only the leader can propose it;
// a follower gets ErrNotLeader and should call the leader's Leave RPC with
// its own Member. The leader steps down once its removal is applied.
func (n *Node) Leave(ctx context.Context) error { return n.RemoveMember(ctx, n.id) }

// conf hands a membership change to the node goroutine and waits until it
// is applied. While another change is pending (often the leader's own
// promotion of a learner that just caught up, which commits within a few
// ticks) it retries until ctx ends instead of failing.
func (n *Node) conf(ctx context.Context, c *confReq) (confResult, error) {
	for {
		res, err := n.confOnce(ctx, c)
		if !errors.Is(err, ErrConfChangeInProgress) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-n.done:
			return confResult{}, ErrStopped
		case <-time.After(confRetryDelay):
		}
	}
}

// confRetryDelay is how long conf waits before proposing again while
// another membership change is pending.
const confRetryDelay = 50 * time.Millisecond

func (n *Node) confOnce(ctx context.Context, c *confReq) (confResult, error) {
	c.done = make(chan confResult, 1)
	if err := submit(ctx, n, n.confc, c); err != nil {
		return confResult{}, err
	}
	select {
	case r := <-c.done:
		return r, r.err
	case <-ctx.Done():
		return confResult{}, fmt.Errorf("raft: membership change not applied yet (it may still commit): %w", ctx.Err())
	case <-n.done:
		return confResult{}, ErrStopped
	}
}

// TransferLeadership asks raft to hand leadership to raftID (0: the most
// up-to-date reachable voter) and waits until another member leads.
// Learners are never targets: naming one returns ErrLearner. When the
// target does not take over within an election timeout (it is cut off or
// cannot catch up), raft gives the transfer up and this returns
// ErrTransferAborted, this member still leading; with raftID 0 the node
// first tries once more with the next best voter. Either way the caller
// hears within about two election timeouts.
func (n *Node) TransferLeadership(ctx context.Context, raftID uint64) error {
	t := &transferReq{to: raftID, done: make(chan error, 1)}
	if err := submit(ctx, n, n.transferc, t); err != nil {
		return err
	}
	select {
	case err := <-t.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("raft: leadership transfer not done yet: %w", ctx.Err())
	case <-n.done:
		return ErrStopped
	}
}

// IsLeader reports whether this node is the leader and has applied every
// entry of earlier terms.
func (n *Node) IsLeader() bool {
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	return n.pub.status.IsLeader
}

// Leader returns the current leader's Raft ID and address (0, "" when unknown).
func (n *Node) Leader() (raftID uint64, addr string) {
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	return n.pub.status.Leader, n.pub.status.LeaderAddr
}

// LeaderChanges returns a new subscription: it receives true when this node
// becomes leader (after IsLeader turns true) and false when it stops being
// leader. Only the latest value is kept if the reader is slow. The channel is
// closed when the node stops.
func (n *Node) LeaderChanges() <-chan bool {
	ch := make(chan bool, 1)
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	select {
	case <-n.done:
		close(ch)
		return ch
	default:
	}
	if n.pub.status.IsLeader {
		ch <- true
	}
	n.pub.subs = append(n.pub.subs, ch)
	return ch
}

// Members returns the membership, sorted by Raft ID.
func (n *Node) Members() []Member {
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	return append([]Member(nil), n.pub.members...)
}

// Status returns the node's current Raft status.
func (n *Node) Status() Status {
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	return n.pub.status
}
