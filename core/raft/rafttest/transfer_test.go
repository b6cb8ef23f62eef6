package rafttest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/rafttest"
)

// TestTransferToCutOffMemberAbortsWithinTwoElectionTimeouts: raft gives a
// transfer up when the target does not take over within an election
// timeout; TransferLeadership must say so then, not wait for its context
// (which here ends only after ten election timeouts).
func TestTransferToCutOffMemberAbortsWithinTwoElectionTimeouts(t *testing.T) {
	c, ms := threeNodes(t, rafttest.ClusterOptions{Seed: 11, Manual: true})
	proposeN(t, c, "k", 3)
	l := c.Leader()
	target := ms[0]
	for _, m := range ms {
		if m != l {
			target = m
			break
		}
	}
	c.Net.Partition([]uint64{target.ID}, []uint64{l.ID})
	start := l.Ticks()
	var took uint64
	err := c.Call(l, 10*raft.DefaultElectionTick, func(ctx context.Context) error {
		err := l.Node.TransferLeadership(ctx, target.ID)
		took = l.Ticks() - start
		return err
	})
	if !errors.Is(err, raft.ErrTransferAborted) {
		t.Fatalf("transfer to a cut-off member: %v after %d ticks, want ErrTransferAborted", err, took)
	}
	if took > 2*raft.DefaultElectionTick {
		t.Fatalf("the abort took %d ticks, want at most two election timeouts (%d)", took, 2*raft.DefaultElectionTick)
	}
	t.Logf("transfer aborted after %d leader ticks: %v", took, err)
	if id, _ := l.Node.Leader(); id != l.ID {
		t.Fatalf("leader is %x after the aborted transfer, want %x still", id, l.ID)
	}
	c.Net.Heal()
	proposeN(t, c, "after", 3)
	// Healed, the same transfer goes through.
	err = c.Call(l, 10*raft.DefaultElectionTick, func(ctx context.Context) error {
		return l.Node.TransferLeadership(ctx, target.ID)
	})
	if err != nil {
		t.Fatalf("transfer after the heal: %v", err)
	}
	if got := c.WaitLeader(wait); got != target {
		t.Fatalf("leader %s after the transfer, want %s", got.NodeID, target.NodeID)
	}
}
