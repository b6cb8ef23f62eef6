package raft

import (
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

type proposal struct {
	payload []byte
	done    chan error
}

// proposals holds the Propose callers by request ID until their entry is
// applied. Loop-owned.
type proposals map[uint64]*proposal

// answer hands err to the caller waiting on reqID, if any.
func (ps proposals) answer(reqID uint64, err error) {
	if p, ok := ps[reqID]; ok {
		delete(ps, reqID)
		p.done <- err
	}
}

// fail answers every caller with err.
func (ps proposals) fail(err error) {
	for id := range ps {
		ps.answer(id, err)
	}
}

func (n *Node) handlePropose(p *proposal) {
	switch {
	case n.removedSelf:
		p.done <- ErrRemoved
		return
	case !n.isRaftLeader():
		p.done <- ErrNotLeader
		return
	}
	id := n.nextID()
	if err := n.rn.Propose(encodeEntry(n.id, id, p.payload)); err != nil {
		p.done <- fmt.Errorf("%w: %v", ErrProposalDropped, err)
		return
	}
	n.proposals[id] = p
}

func (n *Node) applyEntry(e *pb.Entry) error {
	idx := e.GetIndex()
	if idx <= n.applied {
		return nil
	}
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) > 0 {
			origin, reqID, payload, err := decodeEntry(e.GetData())
			if err != nil {
				n.log.Error("raft: skipping entry", "index", idx, "err", err)
				break
			}
			aerr := n.sm.Apply(idx, payload)
			if origin == n.id {
				n.proposals.answer(reqID, aerr)
			}
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("raft: conf change at %d: %w", idx, err)
		}
		if err := n.applyConfChange(&cc); err != nil {
			return err
		}
	default:
		return fmt.Errorf("raft: unsupported entry type %v at %d", e.GetType(), idx)
	}
	n.applied = idx
	n.reads.wake(n.applied)
	return nil
}
