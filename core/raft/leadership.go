package raft

import (
	"maps"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// leadership is what the loop knows of the leader: raft's view (from
// SoftState) and whether this node announced its own leadership. Loop-owned.
type leadership struct {
	state     etcdraft.StateType
	id        uint64 // the leader's Raft ID (0: unknown)
	term      uint64 // the term this node became leader in
	announced bool   // leadership announced (an own-term entry applied)
}

func (n *Node) isRaftLeader() bool { return n.lead.state == etcdraft.StateLeader }

func (n *Node) updateSoftState(ss *etcdraft.SoftState) {
	wasLeader := n.isRaftLeader()
	n.logStateChange(n.lead.state, ss.RaftState, ss)
	n.lead.id, n.lead.state = ss.Lead, ss.RaftState
	if n.isRaftLeader() && !wasLeader {
		n.lead.term = n.rn.BasicStatus().GetTerm()
		n.lead.announced = false
		// Every voter was heard from "now": a new leader must not count
		// its peers unreachable before the first heartbeat round. Learners
		// are not: one must really answer before it is promoted.
		for _, id := range n.mem.confState.GetVoters() {
			n.mem.heard(id, n.ticks)
		}
	}
	if wasLeader && !n.isRaftLeader() {
		n.failAll(ErrLeadershipLost, ErrNotLeader)
		if n.lead.announced {
			n.lead.announced = false
			n.notifyLeadership(false)
		}
	}
}

// maybeAnnounce announces leadership once the leader has applied an entry
// of its own term: from then on its state machine holds every committed
// entry, so leader-only components may read it.
func (n *Node) maybeAnnounce(ents []*pb.Entry) {
	if !n.isRaftLeader() || n.lead.announced {
		return
	}
	for _, e := range ents {
		if e.GetTerm() == n.lead.term && e.GetIndex() <= n.applied {
			n.lead.announced = true
			n.notifyLeadership(true)
			return
		}
	}
}

func (n *Node) notifyLeadership(v bool) {
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	n.pub.status.IsLeader = v
	for _, s := range n.pub.subs {
		select {
		case <-s:
		default:
		}
		s <- v
	}
}

func (n *Node) publish() {
	bs := n.rn.BasicStatus()
	mems := n.memberList()
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	n.pub.status = Status{
		ID:            n.id,
		NodeID:        n.cfg.NodeID,
		State:         stateName(bs.RaftState),
		IsLeader:      n.lead.announced && n.isRaftLeader(),
		Term:          bs.GetTerm(),
		Vote:          bs.GetVote(),
		Commit:        bs.GetCommit(),
		Applied:       n.applied,
		SnapshotIndex: n.snapIndex,
		Leader:        bs.Lead,
		Removed:       n.removedSelf,
		Learner:       n.mem.members[n.id].Learner,
	}
	if m, ok := n.mem.members[bs.Lead]; ok {
		n.pub.status.LeaderAddr = m.Addr
	}
	n.pub.members = mems
	if len(n.pub.removed) != len(n.mem.removed) {
		n.pub.removed = maps.Clone(n.mem.removed)
	}
}

var stateNames = map[etcdraft.StateType]string{
	etcdraft.StateLeader:       "leader",
	etcdraft.StateCandidate:    "candidate",
	etcdraft.StatePreCandidate: "pre-candidate",
}

func stateName(s etcdraft.StateType) string {
	if name, ok := stateNames[s]; ok {
		return name
	}
	return "follower"
}
