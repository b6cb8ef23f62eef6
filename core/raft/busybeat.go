package raft

import (
	"sync"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// busyBeat keeps a leader's heartbeats going while its loop is held up in
// one Ready: applying one large committed entry (a 1,000-status batch, a
// scheduler commit of thousands of tasks) or an fsync the disk is slow to
// finish takes 0.3-0.6 s under load, two back to back over a second, and
// etcd raft sends heartbeats only from the loop's ticks. Measured at 2,400
// nodes x 100k tasks (issue 14): the followers, their own ticks on time,
// heard nothing from the leader for 1.0-2.1 s and elected another one,
// though the leader was alive and making progress.
//
// A goroutine beside the loop sends, every tick interval while the loop is
// in a Ready of a leader's term, a heartbeat of that term to every other
// member, as the loop's tick would. It carries commit 0 (a follower's
// commit never moves back) and no read context (it confirms no ReadIndex):
// it only tells the followers the leader lives, and its answers count for
// CheckQuorum as any heartbeat's do. A loop stuck in one Ready longer than
// maxBusy is no longer covered: a wedged leader is replaced, at most
// maxBusy later than without this. The bound is short (2 election
// timeouts) while the Ready persists, where a dying disk would hold a
// leader that cannot commit, and longer (maxApply, 10 election timeouts)
// once it is applying: that is this process's own work, it ends, and at
// 2,400 nodes x 100k tasks one entry's apply on the leader took up to
// 5.3 s (its loop goroutine waiting behind thousands of session
// goroutines for 2 CPUs), past the short bound.
type busyBeat struct {
	interval time.Duration
	maxBusy  time.Duration // while persisting
	maxApply time.Duration // once applying

	mu        sync.Mutex
	id        uint64
	term      uint64    // the term this node leads in the Ready under way (0: not leader)
	peers     []uint64  // the members to beat, self excluded
	busySince time.Time // when the loop began the Ready under way; zero between Readys
	applying  bool      // the Ready is persisted; the loop applies it
	last      time.Time // the last round this sent
}

// enter tells the beat the loop begins a Ready at now, as the leader of
// term (0: not leader) with the other members peers.
func (b *busyBeat) enter(now time.Time, term uint64, peers []uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.busySince, b.term, b.peers, b.applying = now, term, peers, false
}

// apply tells the beat the Ready under way is persisted and being applied.
func (b *busyBeat) apply() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applying = true
}

// leave tells the beat the loop finished its Ready.
func (b *busyBeat) leave() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.busySince, b.term, b.applying = time.Time{}, 0, false
}

// due returns the heartbeats to send at now: one per peer when the loop
// has been in a leader's Ready for at least an interval (and less than
// maxBusy, or maxApply once applying) and the last round is an interval
// old; nil otherwise.
func (b *busyBeat) due(now time.Time) []*pb.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.term == 0 || b.busySince.IsZero() {
		return nil
	}
	limit := b.maxBusy
	if b.applying {
		limit = b.maxApply
	}
	busy := now.Sub(b.busySince)
	if busy < b.interval || busy >= limit || now.Sub(b.last) < b.interval {
		return nil
	}
	b.last = now
	msgs := make([]*pb.Message, 0, len(b.peers))
	for _, to := range b.peers {
		msgs = append(msgs, &pb.Message{
			Type: pb.MessageType_MsgHeartbeat.Enum(), From: proto.Uint64(b.id), To: proto.Uint64(to),
			Term: proto.Uint64(b.term), Commit: proto.Uint64(0),
		})
	}
	return msgs
}

// runBusyBeat sends the busy loop's heartbeats until the node stops. It
// looks twice per tick interval.
func (n *Node) runBusyBeat() {
	t := time.NewTicker(n.busy.interval / 2)
	defer t.Stop()
	for {
		select {
		case <-n.stopc:
			return
		case <-n.done:
			return
		case now := <-t.C:
			if msgs := n.busy.due(now); len(msgs) > 0 {
				n.tr.Send(msgs)
			}
		}
	}
}

// enterReady tells the busy beat the loop begins a Ready.
func (n *Node) enterReady() {
	if !n.beatOn {
		return
	}
	term, peers := n.beatTarget()
	n.busy.enter(n.now(), term, peers)
}

// reenterReady updates the busy beat after a membership change applied in
// the Ready under way: a leader that removed itself stepped down
// (StepDownOnRemoval) and must not beat for its old term; a removed
// member is not beaten. The Ready's start time is kept.
func (n *Node) reenterReady() {
	if !n.beatOn {
		return
	}
	term, peers := n.beatTarget()
	n.busy.mu.Lock()
	defer n.busy.mu.Unlock()
	if !n.busy.busySince.IsZero() {
		n.busy.term, n.busy.peers = term, peers
	}
}

// beatTarget is the term this node leads now (0: none) and the members
// to beat.
func (n *Node) beatTarget() (uint64, []uint64) {
	var term uint64
	var peers []uint64
	if st := n.rn.BasicStatus(); st.RaftState == etcdraft.StateLeader && !n.removedSelf {
		term = st.GetTerm()
		for _, ids := range [][]uint64{n.mem.confState.GetVoters(), n.mem.confState.GetLearners()} {
			for _, id := range ids {
				if id != n.id {
					peers = append(peers, id)
				}
			}
		}
	}
	return term, peers
}

// applyingReady tells the busy beat the Ready is persisted.
func (n *Node) applyingReady() {
	if n.beatOn {
		n.busy.apply()
	}
}

func (n *Node) leaveReady() {
	if n.beatOn {
		n.busy.leave()
	}
}
