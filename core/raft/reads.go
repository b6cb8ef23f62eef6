package raft

import (
	"encoding/binary"

	etcdraft "go.etcd.io/raft/v3"
)

type readReq struct {
	index uint64
	done  chan error
}

func (n *Node) handleRead(r *readReq) {
	if !n.isRaftLeader() {
		r.done <- ErrNotLeader
		return
	}
	id := n.nextID()
	var ctx [8]byte
	binary.BigEndian.PutUint64(ctx[:], id)
	n.readWaiters[id] = r
	n.rn.ReadIndex(ctx[:])
}

func (n *Node) serveReads(states []etcdraft.ReadState) {
	for _, rs := range states {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(rs.RequestCtx)
		r, ok := n.readWaiters[id]
		if !ok {
			continue
		}
		delete(n.readWaiters, id)
		r.index = rs.Index
		n.pendingReads = append(n.pendingReads, r)
	}
	n.wakeReads()
}

func (n *Node) wakeReads() {
	if len(n.pendingReads) == 0 {
		return
	}
	kept := n.pendingReads[:0]
	for _, r := range n.pendingReads {
		if r.index <= n.applied {
			r.done <- nil
		} else {
			kept = append(kept, r)
		}
	}
	clear(n.pendingReads[len(kept):])
	n.pendingReads = kept
}
