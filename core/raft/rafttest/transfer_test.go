package rafttest_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// TestTransferToPickedTargetCutOffTriesAnotherVoter: with no target named,
// the leader picks the best voter; when that one cannot take over (the
// leader's messages to it are lost) the leader tries once more with the
// other voter instead of failing.
func TestTransferToPickedTargetCutOffTriesAnotherVoter(t *testing.T) {
	c, ms := threeNodes(t, rafttest.ClusterOptions{Seed: 12, Manual: true, Trace: true})
	proposeN(t, c, "k", 3)
	c.WaitConverged(0, wait)
	l := c.Leader()
	var followers []*rafttest.Member
	for _, m := range ms {
		if m != l {
			followers = append(followers, m)
		}
	}
	slices.SortFunc(followers, func(a, b *rafttest.Member) int { return cmp.Compare(a.ID, b.ID) })
	// Equal logs: the leader picks the lower Raft ID, and cannot reach it.
	first, other := followers[0], followers[1]
	c.Net.Cut(l.ID, first.ID)
	err := c.Call(l, 10*raft.DefaultElectionTick, func(ctx context.Context) error {
		return l.Node.TransferLeadership(ctx, 0)
	})
	if err != nil {
		t.Fatalf("transfer with a retry left: %v", err)
	}
	if got := c.WaitLeader(wait); got != other {
		t.Fatalf("leader %s after the transfer, want %s", got.NodeID, other.NodeID)
	}
	lost := fmt.Sprintf("drop %x->%x MsgTimeoutNow", l.ID, first.ID)
	if !slices.ContainsFunc(c.Net.Trace(), func(line string) bool { return strings.HasPrefix(line, lost) }) {
		t.Fatalf("the leader never tried %s first (no %q in the trace)", first.NodeID, lost)
	}
	c.Net.Heal()
	proposeN(t, c, "after", 3)
}
