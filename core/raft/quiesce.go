package raft

import "context"

// Quiescence is the hook a test harness (core/raft/rafttest) drives a node
// step by step with: it hands the node one input (a tick, a message, a
// transport report), then waits until the node's goroutine has handled it
// and everything it caused, so the harness's next choice does not race the
// node. The daemon never calls it; the loop only answers it.

// Quiescent is what Quiesce reports about the node's requests (Propose,
// ReadBarrier, membership changes, transfers).
type Quiescent struct {
	// Requests is how many requests the node has taken so far: a harness
	// tells by it that a request it started has reached the node.
	Requests uint64
	// Waiting is how many taken requests have no answer yet: at 0 every
	// caller has its answer (or is about to read it).
	Waiting int
}

// Quiesce returns once the node's goroutine has handled every input queued
// before the call (received messages, transport reports, requests, and a
// tick it already took) and the Ready batches they produced. After Stop it
// returns ErrStopped.
func (n *Node) Quiesce(ctx context.Context) (Quiescent, error) {
	q := make(chan Quiescent, 1)
	if err := submit(ctx, n, n.quiescec, q); err != nil {
		return Quiescent{}, err
	}
	select {
	case st := <-q:
		return st, nil
	case <-ctx.Done():
		return Quiescent{}, ctx.Err()
	case <-n.done:
		return Quiescent{}, ErrStopped
	}
}

// idle reports whether no input is queued for the loop.
func (n *Node) idle() bool {
	return len(n.recvc)+len(n.propc)+len(n.readc)+len(n.reportc) == 0
}

// answerQuiesce answers the pending Quiesce calls once no input is queued;
// the loop calls it at the end of each iteration.
func (n *Node) answerQuiesce() {
	if len(n.quiesced) == 0 || !n.idle() {
		return
	}
	st := Quiescent{
		Requests: n.requests,
		Waiting:  len(n.proposals) + n.reads.waiting() + len(n.confs.waiters) + len(n.transfer.waiters),
	}
	for _, q := range n.quiesced {
		q <- st
	}
	n.quiesced = n.quiesced[:0]
}
