package raft

import (
	"fmt"

	etcdraft "go.etcd.io/raft/v3"
)

// Leadership transfer. etcd raft aborts a transfer silently when the
// transferee has not won within one election timeout (it is cut off, or too
// slow to catch up): the leader just stays leader. The transfer tracker
// watches for that so TransferLeadership returns ErrTransferAborted instead
// of waiting for its context.

type transferReq struct {
	to   uint64
	done chan error
}

// transferTracker is the loop-owned state of the pending transfer: its
// target, the tick it started at and the callers waiting for it.
type transferTracker struct {
	to    uint64
	start uint64
	// auto: this node picked the target (TransferLeadership(ctx, 0)), so
	// after an abort it tries once more with another voter (retried).
	auto, retried bool
	waiters       []chan error
}

func (t *transferTracker) pending() bool { return len(t.waiters) > 0 }

// begin records a transfer to `to` started at tick now. A transfer to
// another member supersedes the pending one (raft aborts it too).
func (t *transferTracker) begin(to, now uint64, auto bool, done chan error) {
	if t.pending() && t.to != to {
		t.finish(fmt.Errorf("%w: superseded by a transfer to %x", ErrTransferAborted, to))
	}
	if !t.pending() {
		t.to, t.start, t.auto = to, now, auto
	}
	t.waiters = append(t.waiters, done)
}

// retry restarts the transfer towards next at tick now.
func (t *transferTracker) retry(next, now uint64) {
	t.to, t.start, t.retried = next, now, true
}

// finish hands err to every waiter and forgets the transfer.
func (t *transferTracker) finish(err error) {
	for _, w := range t.waiters {
		w <- err
	}
	*t = transferTracker{}
}

// transferView is what the tracker decides on, read from the loop's state
// after each input.
type transferView struct {
	self, lead uint64
	leader     bool   // this node is the raft leader
	transferee uint64 // raft's LeadTransferee (0: none in progress)
	ticks      uint64
	limit      uint64 // ticks after which a transfer that has not ended failed
}

// outcome returns whether the pending transfer ended and how.
func (t *transferTracker) outcome(v transferView) (done bool, err error) {
	switch {
	case !v.leader && v.lead != 0 && v.lead != v.self:
		return true, nil
	case v.leader && v.transferee != t.to:
		return true, fmt.Errorf("%w: %x did not take over within an election timeout (unreachable or not caught up); this member is still leader",
			ErrTransferAborted, t.to)
	case v.ticks-t.start > v.limit:
		return true, fmt.Errorf("%w: no other member led within %d ticks", ErrTransferAborted, v.limit)
	}
	return false, nil
}

// checkTransfer ends the pending transfer once the leader changed or raft
// gave it up. Loop goroutine only.
func (n *Node) checkTransfer() {
	if !n.transfer.pending() {
		return
	}
	bs := n.rn.BasicStatus()
	done, err := n.transfer.outcome(transferView{
		self:       n.id,
		lead:       bs.Lead,
		leader:     bs.RaftState == etcdraft.StateLeader,
		transferee: bs.LeadTransferee,
		ticks:      n.ticks,
		limit:      2 * uint64(n.cfg.ElectionTick),
	})
	if !done {
		return
	}
	if err != nil && n.retryTransfer() {
		return
	}
	n.transfer.finish(err)
}

// retryTransfer starts the one retry of an aborted transfer whose target
// this node picked, towards the best other voter; false when there is none
// or the retry was spent.
func (n *Node) retryTransfer() bool {
	t := &n.transfer
	if !t.auto || t.retried || !n.isRaftLeader() {
		return false
	}
	next := n.bestTransferee(t.to)
	if next == 0 {
		return false
	}
	n.log.Info("raft: leadership transfer aborted; trying another voter",
		"aborted", fmt.Sprintf("%x", t.to), "next", fmt.Sprintf("%x", next))
	t.retry(next, n.ticks)
	n.rn.TransferLeader(next)
	return true
}

func (n *Node) handleTransfer(t *transferReq) {
	if !n.isRaftLeader() {
		t.done <- ErrNotLeader
		return
	}
	to := t.to
	if to == 0 {
		to = n.bestTransferee(0)
	}
	if to == 0 || to == n.id {
		t.done <- fmt.Errorf("%w: no reachable member to transfer leadership to", ErrMemberNotFound)
		return
	}
	m, ok := n.mem.members[to]
	if !ok {
		t.done <- ErrMemberNotFound
		return
	}
	if m.Learner {
		t.done <- fmt.Errorf("%w: %x", ErrLearner, to)
		return
	}
	n.transfer.begin(to, n.ticks, t.to == 0, t.done)
	n.rn.TransferLeader(to)
}

// bestTransferee returns the reachable voter, other than this one and
// except, with the longest log (the lowest ID among equals), 0 when there is
// none.
func (n *Node) bestTransferee(except uint64) uint64 {
	var to, best uint64
	st := n.rn.Status()
	for id, pr := range st.Progress {
		if id == n.id || id == except || !n.reachable(id) || pr.IsLearner {
			continue
		}
		if to == 0 || pr.Match > best || (pr.Match == best && id < to) {
			to, best = id, pr.Match
		}
	}
	return to
}
