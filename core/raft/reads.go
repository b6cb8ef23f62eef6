package raft

import (
	"encoding/binary"

	etcdraft "go.etcd.io/raft/v3"
)

type readReq struct {
	index uint64
	done  chan error
}

// reads holds the ReadBarrier callers, as etcd raft's readOnly holds the
// read requests: first waiting for raft to confirm the leadership and name
// a read index, then for the state machine to apply up to it. Loop-owned.
type reads struct {
	confirming map[uint64]*readReq // request ID -> caller; no read index yet
	applying   []*readReq          // read index known, not applied yet
}

func newReads() reads { return reads{confirming: map[uint64]*readReq{}} }

// waiting returns how many callers have no answer yet.
func (rs *reads) waiting() int { return len(rs.confirming) + len(rs.applying) }

// confirmed moves the callers whose read index raft named to applying.
func (rs *reads) confirmed(states []etcdraft.ReadState) {
	for _, st := range states {
		if len(st.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(st.RequestCtx)
		r, ok := rs.confirming[id]
		if !ok {
			continue
		}
		delete(rs.confirming, id)
		r.index = st.Index
		rs.applying = append(rs.applying, r)
	}
}

// wake answers the callers whose read index is applied.
func (rs *reads) wake(applied uint64) {
	if len(rs.applying) == 0 {
		return
	}
	kept := rs.applying[:0]
	for _, r := range rs.applying {
		if r.index <= applied {
			r.done <- nil
		} else {
			kept = append(kept, r)
		}
	}
	clear(rs.applying[len(kept):])
	rs.applying = kept
}

// fail answers every caller with err.
func (rs *reads) fail(err error) {
	for id, r := range rs.confirming {
		r.done <- err
		delete(rs.confirming, id)
	}
	for _, r := range rs.applying {
		r.done <- err
	}
	rs.applying = nil
}

func (n *Node) handleRead(r *readReq) {
	if !n.isRaftLeader() {
		r.done <- ErrNotLeader
		return
	}
	id := n.nextID()
	var ctx [8]byte
	binary.BigEndian.PutUint64(ctx[:], id)
	n.reads.confirming[id] = r
	n.rn.ReadIndex(ctx[:])
}
