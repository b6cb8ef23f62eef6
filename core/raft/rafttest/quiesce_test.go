package rafttest_test

import (
	"context"
	"testing"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/rafttest"
)

func quiesce(t *testing.T, m *rafttest.Member) raft.Quiescent {
	t.Helper()
	st, err := m.Node.Quiesce(ctxT(t))
	if err != nil {
		t.Fatalf("quiesce %s: %v", m.NodeID, err)
	}
	return st
}

// TestQuiesceCountsRequestsAndWaiters: the hook the driver pins requests
// with counts every request the node takes and those it has not answered.
func TestQuiesceCountsRequestsAndWaiters(t *testing.T) {
	c, ms := threeNodes(t, rafttest.ClusterOptions{Seed: 31, Manual: true})
	l := c.Leader()
	before := quiesce(t, l)
	if before.Waiting != 0 {
		t.Fatalf("idle leader holds %d requests", before.Waiting)
	}
	if err := c.Call(l, 50, func(ctx context.Context) error { return l.Node.Propose(ctx, rafttest.Set("a", "1")) }); err != nil {
		t.Fatalf("propose: %v", err)
	}
	if st := quiesce(t, l); st.Requests != before.Requests+1 || st.Waiting != 0 {
		t.Fatalf("after one proposal: %+v, want %d requests and none waiting", st, before.Requests+1)
	}
	// Cut off from its followers, the leader holds the next one unanswered.
	var others []uint64
	for _, m := range ms {
		if m != l {
			others = append(others, m.ID)
		}
	}
	c.Net.Partition([]uint64{l.ID}, others)
	done := make(chan error, 1)
	go func() { done <- l.Node.Propose(ctxT(t), rafttest.Set("b", "2")) }()
	if !c.Await(wait, func() bool { return quiesce(t, l).Requests == before.Requests+2 }) {
		t.Fatal("the second proposal never reached the leader")
	}
	if st := quiesce(t, l); st.Waiting != 1 {
		t.Fatalf("with its followers cut off the leader reports %+v, want 1 waiting", st)
	}
	c.Net.Heal()
	var err error
	if !c.Await(wait, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("the second proposal was never answered")
	}
	if st := quiesce(t, l); st.Waiting != 0 {
		t.Fatalf("answered (%v), still %+v", err, st)
	}
	c.Stop(l)
	if _, err := l.Node.Quiesce(ctxT(t)); err == nil {
		t.Fatal("quiesce after stop: no error")
	}
}
