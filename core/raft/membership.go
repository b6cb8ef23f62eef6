package raft

import (
	"cmp"
	"fmt"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft/storage"
)

type confKind int

const (
	confAdd confKind = iota
	confRemove
	confPromote // the leader's own promotion of a caught-up learner
)

type confResult struct {
	raftID  uint64
	members []Member
	err     error
}

// confChanges holds the membership change callers (at most one change is
// pending at a time) until their change is applied. Loop-owned.
type confChanges struct {
	waiters map[uint64]*confReq // request ID -> caller
	// check is the request ID of a change just proposed, until the next
	// Ready shows whether raft accepted it (0: none).
	check uint64
}

// busy reports whether a change is pending.
func (cs *confChanges) busy() bool { return cs.check != 0 || len(cs.waiters) > 0 }

// add records the caller of the change just proposed as reqID.
func (cs *confChanges) add(reqID uint64, c *confReq) {
	cs.waiters[reqID] = c
	cs.check = reqID
}

// answer hands res to the caller of reqID, if any.
func (cs *confChanges) answer(reqID uint64, res confResult) {
	if c, ok := cs.waiters[reqID]; ok {
		delete(cs.waiters, reqID)
		c.done <- res
	}
}

// fail answers every caller with err.
func (cs *confChanges) fail(err error) {
	for id := range cs.waiters {
		cs.answer(id, confResult{err: err})
	}
	cs.check = 0
}

// membership is the loop's table of the group: the members with their
// addresses, the removed Raft IDs (never reused, their messages refused),
// raft's ConfState as of the last applied change, and when each member was
// last heard from. Loop-owned; publish copies it for other goroutines.
type membership struct {
	members   map[uint64]Member
	removed   map[uint64]bool
	confState *pb.ConfState
	lastSeen  map[uint64]uint64 // Raft ID -> tick of the last message from it
}

func newMembership() membership {
	return membership{
		members:   map[uint64]Member{},
		removed:   map[uint64]bool{},
		confState: &pb.ConfState{},
		lastSeen:  map[uint64]uint64{},
	}
}

// restore replaces the table with a snapshot's (env) as of cs.
func (ms *membership) restore(env snapshotEnvelope, cs *pb.ConfState) {
	ms.confState = proto.Clone(pb.EnsureConfState(cs)).(*pb.ConfState)
	ms.members = map[uint64]Member{}
	ms.removed = map[uint64]bool{}
	learners := learnerSet(ms.confState)
	for _, m := range env.members {
		m.Learner = learners[m.RaftID]
		ms.members[m.RaftID] = m
	}
	for _, r := range env.removed {
		ms.removed[r] = true
	}
}

// heard records a message from id at tick now.
func (ms *membership) heard(id, now uint64) { ms.lastSeen[id] = now }

// heardWithin reports whether id was heard from within window ticks of now.
func (ms *membership) heardWithin(id, now, window uint64) bool {
	seen, ok := ms.lastSeen[id]
	return ok && now-seen <= window
}

// peerAddrs returns the members' addresses, self excluded.
func (ms *membership) peerAddrs(self uint64) map[uint64]string {
	out := make(map[uint64]string, len(ms.members))
	for id, m := range ms.members {
		if id != self {
			out[id] = m.Addr
		}
	}
	return out
}

// list returns the members sorted by Raft ID, Reachable unset.
func (ms *membership) list() []Member {
	out := make([]Member, 0, len(ms.members))
	for _, m := range ms.members {
		out = append(out, Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: m.Learner})
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.RaftID, b.RaftID) })
	return out
}

// removedList returns the removed Raft IDs, sorted.
func (ms *membership) removedList() []uint64 {
	out := make([]uint64, 0, len(ms.removed))
	for id := range ms.removed {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

type confReq struct {
	kind   confKind
	nodeID string
	addr   string
	raftID uint64
	done   chan confResult
}

// reachable reports whether this node heard from member id within the last
// election timeout (always true for itself).
func (n *Node) reachable(id uint64) bool {
	return id == n.id || n.mem.heardWithin(id, n.ticks, uint64(n.cfg.ElectionTick))
}

func (n *Node) handleConf(c *confReq) {
	fail := func(err error) { c.done <- confResult{err: err} }
	if err := n.confAllowed(); err != nil {
		fail(err)
		return
	}
	reqID := n.nextID()
	cc, err := n.confChange(c)
	if err != nil {
		fail(err)
		return
	}
	cc.Id = proto.Uint64(reqID)
	if err := n.rn.ProposeConfChange(cc); err != nil {
		fail(fmt.Errorf("%w: %v", ErrProposalDropped, err))
		return
	}
	n.confs.add(reqID, c)
}

// confAllowed says why this node cannot propose a membership change now.
func (n *Node) confAllowed() error {
	switch {
	case n.removedSelf:
		return ErrRemoved
	case !n.isRaftLeader():
		return ErrNotLeader
	case n.confs.busy():
		return ErrConfChangeInProgress
	}
	return nil
}

// confChange returns the raft change for c, or why it is refused.
func (n *Node) confChange(c *confReq) (*pb.ConfChange, error) {
	switch c.kind {
	case confAdd:
		return n.addLearnerChange(c)
	case confRemove:
		return n.removeChange(c.raftID)
	}
	m := n.mem.members[c.raftID]
	return &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(c.raftID), Context: storage.EncodeMember(m.NodeID, m.Addr)}, nil
}

// addLearnerChange adds c.nodeID as a learner under a new Raft ID (set in c).
func (n *Node) addLearnerChange(c *confReq) (*pb.ConfChange, error) {
	for _, m := range n.mem.members {
		if m.NodeID == c.nodeID {
			return nil, fmt.Errorf("%w: node %s is raft member %x", ErrMemberExists, c.nodeID, m.RaftID)
		}
	}
	// A learner does not count towards the quorum, so adding one
	// cannot cost the group its quorum: no reachability check here.
	// The check happens before the promotion (maybePromote).
	id := uint64(0)
	for id == 0 || n.mem.removed[id] || n.mem.members[id].RaftID != 0 {
		id = n.cfg.Rand()
	}
	c.raftID = id
	return &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(id), Context: storage.EncodeMember(c.nodeID, c.addr)}, nil
}

// removeChange removes member id, unless it is the last voter or the
// voters left reachable would not be a quorum.
func (n *Node) removeChange(id uint64) (*pb.ConfChange, error) {
	if _, ok := n.mem.members[id]; !ok {
		return nil, fmt.Errorf("%w: %x", ErrMemberNotFound, id)
	}
	// Removing a learner leaves the voters, hence the quorum, as they are.
	if voters := n.mem.confState.GetVoters(); slices.Contains(voters, id) {
		if len(voters) == 1 {
			return nil, ErrLastManager
		}
		reach := 0
		for _, v := range voters {
			if v != id && n.reachable(v) {
				reach++
			}
		}
		if remaining := len(voters) - 1; reach < remaining/2+1 {
			return nil, fmt.Errorf("%w: %d of the %d remaining voters reachable", ErrCannotRemoveMember, reach, remaining)
		}
	}
	return &pb.ConfChange{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(id)}, nil
}

// checkAccepted fails the change just proposed when raft replaced it by an
// empty entry in ents (it does so while an earlier change is unapplied).
func (cs *confChanges) checkAccepted(ents []*pb.Entry) {
	id := cs.check
	if id == 0 {
		return
	}
	cs.check = 0
	for _, e := range ents {
		if e.GetType() != pb.EntryConfChange {
			continue
		}
		var cc pb.ConfChange
		if proto.Unmarshal(e.GetData(), &cc) == nil && cc.GetId() == id {
			return
		}
	}
	cs.answer(id, confResult{err: ErrConfChangeInProgress})
}

func (n *Node) applyConfChange(cc *pb.ConfChange) error {
	id := cc.GetNodeId()
	switch cc.GetType() {
	case pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode, pb.ConfChangeUpdateNode:
		nodeID, addr, _, err := storage.DecodeMember(cc.GetContext())
		if err != nil {
			return fmt.Errorf("raft: conf change context: %w", err)
		}
		if !n.mem.removed[id] {
			prev, known := n.mem.members[id]
			learner := cc.GetType() == pb.ConfChangeAddLearnerNode
			if cc.GetType() == pb.ConfChangeUpdateNode && known {
				learner = prev.Learner
			}
			promotion := known && prev.Learner && !learner
			if !promotion {
				// A joining member rejects a snapshot whose ConfState lacks it, so
				// snapshot again right after it is added. A promoted learner is
				// in the last snapshot already (as a learner, which it accepts).
				n.forceSnapshot = true
			}
			n.mem.members[id] = Member{RaftID: id, NodeID: nodeID, Addr: addr, Learner: learner}
			if err := n.st.PutMember(storage.Member{RaftID: id, NodeID: nodeID, Addr: addr, Learner: learner}); err != nil {
				return err
			}
			if promotion {
				n.log.Info("raft: learner promoted to voter", "member", fmt.Sprintf("%x", id), "node_id", nodeID)
			}
		}
	case pb.ConfChangeRemoveNode:
		delete(n.mem.members, id)
		n.mem.removed[id] = true
		if err := n.st.RemoveMember(id); err != nil {
			return err
		}
	}
	n.mem.confState = n.rn.ApplyConfChange(cc)
	n.tr.SetPeers(n.mem.peerAddrs(n.id))
	if id == n.id && cc.GetType() == pb.ConfChangeRemoveNode && !n.removedSelf {
		n.removedSelf = true
		close(n.removedc)
		n.log.Info("raft: this member was removed from the cluster")
	}
	if _, ok := n.confs.waiters[cc.GetId()]; ok {
		// Members() must show the change once the caller hears it is applied.
		n.publish()
		n.confs.answer(cc.GetId(), confResult{raftID: id, members: n.memberList()})
	}
	return nil
}

// memberList returns the members sorted by Raft ID, with their reachability.
func (n *Node) memberList() []Member {
	out := n.mem.list()
	for i := range out {
		out[i].Reachable = n.reachable(out[i].RaftID)
	}
	return out
}
