package raft

import (
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft/storage"
)

func (n *Node) restoreSnapshot(snap *pb.Snapshot) error {
	idx := snap.GetMetadata().GetIndex()
	env, err := decodeSnapshot(snap.GetData())
	if err != nil {
		return err
	}
	if err := n.sm.Restore(idx, env.data); err != nil {
		return fmt.Errorf("raft: restore state machine at %d: %w", idx, err)
	}
	n.mem.members = map[uint64]Member{}
	n.mem.removed = map[uint64]bool{}
	learners := learnerSet(snap.GetMetadata().GetConfState())
	sm := make([]storage.Member, 0, len(env.members))
	for _, m := range env.members {
		m.Learner = learners[m.RaftID]
		n.mem.members[m.RaftID] = m
		sm = append(sm, storage.Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: m.Learner})
	}
	for _, r := range env.removed {
		n.mem.removed[r] = true
	}
	if err := n.st.SetMembers(sm, env.removed); err != nil {
		return err
	}
	n.applied, n.snapIndex = idx, idx
	n.mem.confState = proto.Clone(pb.EnsureConfState(snap.GetMetadata().GetConfState())).(*pb.ConfState)
	n.tr.SetPeers(n.mem.peerAddrs(n.id))
	n.log.Info("raft: restored snapshot", "index", idx, "bytes", len(snap.GetData()))
	return nil
}

func (n *Node) maybeSnapshot() error {
	due := n.applied >= n.snapIndex+n.cfg.SnapshotInterval
	if n.forceSnapshot && n.applied > n.snapIndex {
		// Only when the log was compacted is a snapshot ever sent; a young
		// log catches a new member up by entries.
		if first, err := n.st.FirstIndex(); err != nil {
			return err
		} else if first > 1 {
			due = true
		}
	}
	n.forceSnapshot = false
	if !due {
		return nil
	}
	data, err := n.sm.Snapshot()
	if err != nil {
		n.log.Error("raft: state machine snapshot failed; will retry", "err", err)
		return nil
	}
	env := encodeSnapshot(snapshotEnvelope{members: n.mem.list(), removed: n.mem.removedList(), data: data})
	if _, err := n.st.CreateSnapshot(n.applied, n.mem.confState, env); err != nil {
		return err
	}
	n.snapIndex = n.applied
	if n.snapIndex > n.cfg.TrailingEntries {
		compact := n.snapIndex - n.cfg.TrailingEntries
		first, err := n.st.FirstIndex()
		if err != nil {
			return err
		}
		if compact > first {
			if err := n.st.Compact(compact); err != nil {
				return err
			}
		}
	}
	n.log.Info("raft: snapshot", "index", n.snapIndex, "bytes", len(env))
	return nil
}
