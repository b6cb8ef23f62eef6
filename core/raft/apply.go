package raft

import (
	"bytes"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

type proposal struct {
	payload []byte
	decoded any // ProposeDecoded's in-memory value, nil for Propose
	done    chan error
}

// DecodedApplier is a StateMachine that can apply an entry this member
// proposed from the value the proposer decoded it from (ProposeDecoded),
// skipping the decode. ApplyDecoded must have exactly the effect
// Apply(index, payload) has: the node calls it only when payload is, byte
// for byte, what was proposed with decoded.
type DecodedApplier interface {
	ApplyDecoded(index uint64, payload []byte, decoded any) error
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
	n.sinceSnapBytes += uint64(len(e.GetData()))
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) > 0 {
			origin, reqID, payload, err := decodeEntry(e.GetData())
			if err != nil {
				n.log.Error("raft: skipping entry", "index", idx, "err", err)
				break
			}
			var aerr error
			if decoded := n.ownDecoded(origin, reqID, payload); decoded != nil {
				aerr = n.sm.(DecodedApplier).ApplyDecoded(idx, payload, decoded)
			} else {
				aerr = n.sm.Apply(idx, payload)
			}
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
		n.reenterReady()
	default:
		return fmt.Errorf("raft: unsupported entry type %v at %d", e.GetType(), idx)
	}
	n.applied = idx
	n.reads.wake(n.applied)
	return nil
}

// ownDecoded returns the in-memory value of the waiting proposal the entry
// (origin, reqID, payload) is, or nil: when another member proposed it, no
// one waits for it, the state machine cannot take it, or the bytes differ
// (a request ID of an earlier run of this member, say). The byte compare
// is what makes skipping the decode safe; it costs a memcmp, far less than
// the decode.
func (n *Node) ownDecoded(origin, reqID uint64, payload []byte) any {
	if origin != n.id {
		return nil
	}
	p, ok := n.proposals[reqID]
	if !ok || p.decoded == nil || !bytes.Equal(p.payload, payload) {
		return nil
	}
	if _, ok := n.sm.(DecodedApplier); !ok {
		return nil
	}
	return p.decoded
}
