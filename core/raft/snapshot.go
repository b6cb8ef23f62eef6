package raft

import (
	"errors"
	"fmt"
	"math"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

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
	n.snapBytes, n.sinceSnapBytes = uint64(len(snap.GetData())), 0
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
	if n.snapping {
		return nil // forceSnapshot stays set for the next one
	}
	capturer, async := n.sm.(SnapshotCapturer)
	due := n.applied >= n.snapIndex+n.snapEvery.Load() ||
		async && n.applied > n.snapIndex && n.sinceSnapBytes >= max(n.cfg.SnapshotBytes, n.snapBytes)
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
	if async {
		n.startSnapshot(capturer.CaptureSnapshot())
		return nil
	}
	data, err := n.sm.Snapshot()
	if err != nil {
		n.log.Error("raft: state machine snapshot failed; will retry", "err", err)
		return nil
	}
	n.sinceSnapBytes = 0
	env := encodeSnapshot(snapshotEnvelope{members: n.mem.list(), removed: n.mem.removedList(), data: data})
	if _, err := n.st.CreateSnapshot(n.applied, n.mem.confState, env); err != nil {
		return err
	}
	return n.snapshotTaken(snapResult{index: n.applied, size: uint64(len(env))})
}

// snapResult is how a snapshot written off the node's goroutine ended.
type snapResult struct {
	index, size uint64
	err         error // of the state machine (retried) or of the storage
	smErr       bool
}

// startSnapshot writes a snapshot at the applied index on another
// goroutine: capture (taken here, on the node's goroutine) serialises the
// state machine as of now, and the membership is this index's. The result
// comes back on snapDone.
func (n *Node) startSnapshot(capture func() ([]byte, error)) {
	index := n.applied
	members, removed := n.mem.list(), n.mem.removedList()
	cs := proto.CloneOf(pb.EnsureConfState(n.mem.confState))
	n.snapping, n.sinceSnapBytes = true, 0
	n.snapWG.Add(1)
	go func() {
		defer n.snapWG.Done()
		data, err := capture()
		if err != nil {
			n.snapDone <- snapResult{index: index, err: err, smErr: true}
			return
		}
		env := encodeSnapshot(snapshotEnvelope{members: members, removed: removed, data: data})
		_, err = n.st.CreateSnapshot(index, cs, env)
		n.snapDone <- snapResult{index: index, size: uint64(len(env)), err: err}
	}()
}

// finishSnapshot takes the result of startSnapshot on the node's goroutine.
// A snapshot overtaken by one received from the leader meanwhile is
// dropped.
func (n *Node) finishSnapshot(r snapResult) error {
	n.snapping = false
	switch {
	case r.smErr:
		n.log.Error("raft: state machine snapshot failed; will retry", "err", r.err)
		return nil
	case errors.Is(r.err, etcdraft.ErrSnapOutOfDate) || errors.Is(r.err, etcdraft.ErrCompacted) || r.err == nil && r.index <= n.snapIndex:
		return nil
	case r.err != nil:
		return r.err
	}
	return n.snapshotTaken(r)
}

// snapshotTaken records a snapshot written at r.index and compacts the log.
func (n *Node) snapshotTaken(r snapResult) error {
	n.snapIndex = r.index
	n.snapBytes = r.size
	if err := n.compactLog(); err != nil {
		return err
	}
	n.log.Info("raft: snapshot", "index", n.snapIndex, "bytes", r.size)
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
