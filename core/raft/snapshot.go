package raft

import (
	"fmt"
	"math"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft/storage"
)

// loadSnapshot restores the state machine and the membership from snap.
func (n *Node) loadSnapshot(snap *pb.Snapshot) (snapshotEnvelope, error) {
	idx := snap.GetMetadata().GetIndex()
	env, err := decodeSnapshot(snap.GetData())
	if err != nil {
		return env, err
	}
	if err := n.sm.Restore(idx, env.data); err != nil {
		return env, fmt.Errorf("raft: restore state machine at %d: %w", idx, err)
	}
	n.mem.restore(env, snap.GetMetadata().GetConfState())
	n.applied, n.snapIndex = idx, idx
	return env, nil
}

// restoreSnapshot installs a snapshot the leader sent.
func (n *Node) restoreSnapshot(snap *pb.Snapshot) error {
	env, err := n.loadSnapshot(snap)
	if err != nil {
		return err
	}
	sm := make([]storage.Member, 0, len(n.mem.members))
	for _, m := range n.mem.list() {
		sm = append(sm, storage.Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: m.Learner})
	}
	if err := n.st.SetMembers(sm, env.removed); err != nil {
		return err
	}
	n.tr.SetPeers(n.mem.peerAddrs(n.id))
	n.log.Info("raft: restored snapshot", "index", n.snapIndex, "bytes", len(snap.GetData()))
	return nil
}

func (n *Node) maybeSnapshot() error {
	due := n.applied >= n.snapIndex+n.snapEvery.Load()
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
	if err := n.compactLog(); err != nil {
		return err
	}
	n.log.Info("raft: snapshot", "index", n.snapIndex, "bytes", len(env))
	return nil
}

// compactLog drops the entries before the snapshot from memory except the
// last TrailingEntries of them, and fewer if those hold more than
// TrailingBytes.
func (n *Node) compactLog() error {
	first, err := n.st.FirstIndex()
	if err != nil {
		return err
	}
	compact := first
	if n.snapIndex > n.cfg.TrailingEntries {
		compact = max(first, n.snapIndex-n.cfg.TrailingEntries)
	}
	if compact < n.snapIndex {
		ents, err := n.st.Entries(compact+1, n.snapIndex+1, math.MaxUint64)
		if err != nil {
			return err
		}
		var size uint64
		for i := len(ents) - 1; i >= 0; i-- {
			if size += uint64(len(ents[i].GetData())); size > n.cfg.TrailingBytes {
				compact = ents[i].GetIndex()
				break
			}
		}
	}
	if compact > first {
		return n.st.Compact(compact)
	}
	return nil
}
