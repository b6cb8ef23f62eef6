package rafttest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/raft/rafttest"
)

// TestLeaderApplyingBacklogKeepsLeading gives the leader a long apply
// backlog (issue 14: at 2,400 nodes x 100k tasks the leader's loop was
// found applying 1,000-operation entries, Ready after Ready, while its
// followers heard nothing and elected another leader). The leader learns
// at once that 36 entries are committed, one entry per Ready; each apply
// takes one round of the followers' time (KV.OnApply ticks them and
// delivers their traffic) and every fourth one makes a tick of the leader
// due. The leader must take its due ticks between Readys and heartbeat:
// no follower may start an election while it applies. When the loop
// drained every Ready before taking a tick, the followers went 36 rounds
// without a heartbeat, past every randomized election timeout (10 to 20
// rounds), and one of them won an election.
func TestLeaderApplyingBacklogKeepsLeading(t *testing.T) {
	const backlog = 36
	c, ms := threeNodes(t, rafttest.ClusterOptions{Seed: 11, Manual: true, MaxCommittedSizePerReady: 1})
	proposeN(t, c, "before", 3)
	l := c.Leader()
	term := l.Node.Status().Term
	var followers []*rafttest.Member
	for _, m := range ms {
		if m.ID != l.ID {
			followers = append(followers, m)
		}
	}

	// The leader takes the proposals and sends them; the followers append
	// them, and only their newest answers reach the leader, together.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, backlog)
	for i := range backlog {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Node.Propose(ctx, rafttest.Set(fmt.Sprintf("b%d", i), "v")); err != nil {
				errs <- err
			}
		}()
	}
	if !c.Await(30*time.Second, func() bool {
		st, _ := l.Node.Quiesce(ctx)
		return st.Waiting == backlog
	}) {
		t.Fatal("the leader did not take the proposals")
	}
	c.Net.DeliverExcept(l.ID)
	c.Net.CollapseTo(l.ID)
	base := l.KV.Applied()

	var mu sync.Mutex
	var changed string
	rounds := 0
	l.KV.OnApply(func(index uint64) {
		if index <= base {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		rounds++
		if rounds%4 == 0 && !c.PostTick(l) {
			t.Error("too many ticks waiting for the leader")
		}
		for _, f := range followers {
			c.TickOnly(f)
		}
		c.Net.DeliverExcept(l.ID)
		for _, f := range followers {
			if st := f.Node.Status(); st.Term != term && changed == "" {
				changed = fmt.Sprintf("apply round %d: %s is in term %d, want %d (an election)", rounds, f.NodeID, st.Term, term)
			}
		}
	})
	applied := func() bool { return l.KV.Applied() >= base+backlog }
	if !c.RunUntil(applied, 100) {
		t.Fatalf("the leader applied %d of %d backlog entries", l.KV.Applied()-base, backlog)
	}
	l.KV.OnApply(nil)
	mu.Lock()
	defer mu.Unlock()
	if rounds < backlog {
		t.Fatalf("%d apply rounds, want %d", rounds, backlog)
	}
	if changed != "" {
		t.Fatalf("leader applying a backlog: %s", changed)
	}
	if st := l.Node.Status(); st.Leader != l.ID || st.Term != term {
		t.Fatalf("after the backlog: leader %x in term %d, want %x in term %d", st.Leader, st.Term, l.ID, term)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("backlog proposal: %v", err)
	}
	proposeN(t, c, "after", 3)
}
