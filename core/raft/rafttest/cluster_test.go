package rafttest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/rafttest"
)

const wait = 30 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func proposeN(t *testing.T, c *rafttest.Cluster, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := c.Propose(rafttest.Set(fmt.Sprintf("%s%d", prefix, i), fmt.Sprint(i))); err != nil {
			t.Fatalf("propose %s%d: %v", prefix, i, err)
		}
	}
}

func threeNodes(t *testing.T, opts rafttest.ClusterOptions) (*rafttest.Cluster, []*rafttest.Member) {
	t.Helper()
	c := rafttest.NewCluster(t, opts)
	m1 := c.Bootstrap(1)
	c.WaitLeader(wait)
	m2 := c.Join("n2")
	m3 := c.Join("n3")
	return c, []*rafttest.Member{m1, m2, m3}
}

func TestSingleNodeProposeRestart(t *testing.T) {
	c := rafttest.NewCluster(t, rafttest.ClusterOptions{})
	m := c.Bootstrap(1)
	l := c.WaitLeader(wait)
	if l != m {
		t.Fatalf("leader %v, want n1", l.NodeID)
	}
	proposeN(t, c, "k", 50)
	if err := m.Node.Propose(ctxT(t), []byte("reject me")); !errors.Is(err, rafttest.ErrRejected) {
		t.Fatalf("Apply error not returned to proposer: %v", err)
	}
	if err := m.Node.ReadBarrier(ctxT(t)); err != nil {
		t.Fatalf("read barrier: %v", err)
	}
	want := m.KV.Data()
	applied := m.Node.Status().Applied
	c.Stop(m)
	if err := m.Node.Propose(ctxT(t), rafttest.Set("x", "y")); !errors.Is(err, raft.ErrStopped) {
		t.Fatalf("propose after stop: %v", err)
	}
	m = c.Restart(m)
	c.WaitLeader(wait)
	c.WaitConverged(applied, wait)
	if got := m.KV.Data(); len(got) != len(want) || got["k49"] != "49" {
		t.Fatalf("after restart: %d keys, want %d", len(got), len(want))
	}
	proposeN(t, c, "after", 5)
	if ms := m.Node.Members(); len(ms) != 1 || ms[0].RaftID != 1 || ms[0].Addr != rafttest.Addr("n1") || !ms[0].Reachable {
		t.Fatalf("members: %+v", ms)
	}
}

func TestBootstrapTwiceAndRestartEmpty(t *testing.T) {
	c := rafttest.NewCluster(t, rafttest.ClusterOptions{})
	m := c.Bootstrap(1)
	c.Stop(m)
	_, err := raft.Bootstrap(raft.Config{DataDir: m.Dir, StateMachine: rafttest.NewKV(), Transport: c.Net.Transport(1), Ticker: rafttest.NewManualTicker()})
	if !errors.Is(err, raft.ErrAlreadyInitialized) {
		t.Fatalf("bootstrap twice: %v", err)
	}
	_, err = raft.Restart(raft.Config{DataDir: t.TempDir(), StateMachine: rafttest.NewKV(), Transport: c.Net.Transport(1), Ticker: rafttest.NewManualTicker()})
	if !errors.Is(err, raft.ErrNotInitialized) {
		t.Fatalf("restart empty: %v", err)
	}
}

func TestThreeNodesReplicateAndFollowerRefuses(t *testing.T) {
	c, ms := threeNodes(t, rafttest.ClusterOptions{Seed: 1})
	proposeN(t, c, "k", 30)
	c.WaitConverged(0, wait)
	l := c.Leader()
	for _, m := range ms {
		if m == l {
			continue
		}
		if err := m.Node.Propose(ctxT(t), rafttest.Set("x", "y")); !errors.Is(err, raft.ErrNotLeader) {
			t.Fatalf("follower propose: %v", err)
		}
		if err := m.Node.ReadBarrier(ctxT(t)); !errors.Is(err, raft.ErrNotLeader) {
			t.Fatalf("follower read barrier: %v", err)
		}
		id, addr := m.Node.Leader()
		if id != l.ID || addr != rafttest.Addr(l.NodeID) {
			t.Fatalf("follower sees leader %x %q, want %x", id, addr, l.ID)
		}
	}
	if got := l.Node.Members(); len(got) != 3 {
		t.Fatalf("members %+v", got)
	}
	for _, mem := range l.Node.Members() {
		if !mem.Reachable {
			t.Fatalf("member %x unreachable on leader: %+v", mem.RaftID, l.Node.Members())
		}
	}
}

func TestLeaderLossAndPartitionHeal(t *testing.T) {
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 2})
	proposeN(t, c, "a", 10)
	old := c.Leader()
	sub := old.Node.LeaderChanges()
	var others []uint64
	for _, m := range c.Members() {
		if m != old {
			others = append(others, m.ID)
		}
	}
	c.Net.Partition([]uint64{old.ID}, others)
	// The isolated leader can no longer commit; CheckQuorum makes it step down.
	err := c.Call(old, 3*raft.DefaultElectionTick, func(ctx context.Context) error {
		return old.Node.Propose(ctx, rafttest.Set("lost", "1"))
	})
	if err == nil {
		t.Fatal("isolated leader committed a write")
	}
	deadline := time.Now().Add(wait)
	for {
		select {
		case v := <-sub:
			if !v {
				goto steppedDown
			}
		case <-time.After(time.Until(deadline)):
			t.Fatal("isolated leader never stepped down")
		}
	}
steppedDown:
	if !c.Await(wait, func() bool { l := c.Leader(); return l != nil && l != old }) {
		t.Fatal("majority elected no leader")
	}
	proposeN(t, c, "b", 10)
	c.Net.Heal()
	c.WaitConverged(0, wait)
	if _, ok := old.KV.Get("b9"); !ok {
		t.Fatal("healed node missing writes")
	}
}

func TestKilledLeaderReplacedQuickly(t *testing.T) {
	// This checks the mechanism (a stopped leader is replaced and writes
	// resume), not the speed: the harness paces ticks, not the machine.
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 3})
	proposeN(t, c, "a", 5)
	old := c.Leader()
	c.Stop(old)
	start := time.Now()
	proposeN(t, c, "b", 1)
	t.Logf("writes resumed %v after the leader stopped", time.Since(start))
	c.WaitConverged(0, wait)
	old = c.Restart(old)
	c.WaitConverged(0, wait)
	if _, ok := old.KV.Get("b0"); !ok {
		t.Fatal("restarted old leader missing the new write")
	}
}

func TestDropsAndDelays(t *testing.T) {
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 4})
	c.Net.SetDropRate(0.1)
	c.Net.SetDelay(2)
	proposeN(t, c, "k", 40)
	c.Net.Heal()
	c.WaitConverged(0, wait)
	if _, dropped := c.Net.Stats(); dropped == 0 {
		t.Fatal("network dropped nothing")
	}
}

func TestSnapshotCompactionAndJoinWithChunkedSnapshot(t *testing.T) {
	c := rafttest.NewCluster(t, rafttest.ClusterOptions{SnapshotInterval: 20, TrailingEntries: 5, ChunkSize: 4 << 10, Seed: 5})
	c.Bootstrap(1)
	c.WaitLeader(wait)
	c.Join("n2")
	big := strings.Repeat("x", 2<<10)
	for i := range 60 {
		if err := c.Propose(rafttest.Set(fmt.Sprintf("k%d", i), big)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(0, wait)
	for _, m := range c.Members() {
		if st := m.Node.Status(); st.SnapshotIndex < 40 {
			t.Fatalf("%s snapshot index %d, want >= 40", m.NodeID, st.SnapshotIndex)
		}
	}
	// n3 joins after compaction: the leader must send a snapshot (~120 KiB,
	// ~30 chunks of 4 KiB).
	m3 := c.Join("n3")
	c.WaitConverged(0, wait)
	if v, ok := m3.KV.Get("k0"); !ok || v != big {
		t.Fatal("joined member did not receive the snapshot")
	}
	if len(m3.Node.Members()) != 3 {
		t.Fatalf("joined member knows %d members", len(m3.Node.Members()))
	}
	proposeN(t, c, "after", 5)
	c.WaitConverged(0, wait)
	// Restart the joined member from disk: snapshot + log reload.
	c.Stop(m3)
	m3 = c.Restart(m3)
	c.WaitConverged(0, wait)
	if _, ok := m3.KV.Get("after4"); !ok {
		t.Fatal("restarted member lost data")
	}
}

func TestRestartWholeCluster(t *testing.T) {
	c, ms := threeNodes(t, rafttest.ClusterOptions{SnapshotInterval: 25, TrailingEntries: 3, Seed: 6})
	proposeN(t, c, "k", 60)
	c.WaitConverged(0, wait)
	want := ms[0].KV.Data()
	for _, m := range ms {
		c.Stop(m)
	}
	for _, m := range ms {
		c.Restart(m)
	}
	c.WaitLeader(wait)
	c.WaitConverged(0, wait)
	for _, m := range c.Members() {
		if got := m.KV.Data(); len(got) != len(want) {
			t.Fatalf("%s has %d keys, want %d", m.NodeID, len(got), len(want))
		}
	}
	proposeN(t, c, "more", 5)
	c.WaitConverged(0, wait)
}

func TestMembershipChanges(t *testing.T) {
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 7})
	l := c.Leader()
	var a, b *rafttest.Member
	for _, m := range c.Members() {
		if m == l {
			continue
		}
		if a == nil {
			a = m
		} else {
			b = m
		}
	}
	if _, _, err := l.Node.AddMember(ctxT(t), a.NodeID, "x:1"); !errors.Is(err, raft.ErrMemberExists) {
		t.Fatalf("re-add: %v", err)
	}
	if err := l.Node.RemoveMember(ctxT(t), 0xdead); !errors.Is(err, raft.ErrMemberNotFound) {
		t.Fatalf("remove unknown: %v", err)
	}
	// Cut a off: removing b would leave {leader, a} with a unreachable.
	c.Net.Partition([]uint64{a.ID}, []uint64{l.ID, b.ID})
	if !c.Await(wait, func() bool { return !reachable(l, a.ID) }) {
		t.Fatalf("the leader still hears from the cut-off %s", a.NodeID)
	}
	if err := l.Node.RemoveMember(ctxT(t), b.ID); !errors.Is(err, raft.ErrCannotRemoveMember) {
		t.Fatalf("remove with lost quorum: %v", err)
	}
	if err := l.Node.RemoveMember(ctxT(t), a.ID); err != nil {
		t.Fatalf("remove unreachable member: %v", err)
	}
	select {
	case <-a.Node.Removed():
		t.Fatal("partitioned member learned of its removal")
	default:
	}
	c.Stop(a)
	proposeN(t, c, "k", 3)
	if got := len(l.Node.Members()); got != 2 {
		t.Fatalf("members after removal: %d", got)
	}
	// Removing the follower b, then the leader itself is the last member.
	if err := l.Node.RemoveMember(ctxT(t), b.ID); err != nil {
		t.Fatalf("remove b: %v", err)
	}
	select {
	case <-b.Node.Removed():
	case <-time.After(wait):
		t.Fatal("removed member never learned it")
	}
	if err := l.Node.Leave(ctxT(t)); !errors.Is(err, raft.ErrLastManager) {
		t.Fatalf("leave as last member: %v", err)
	}
	proposeN(t, c, "solo", 3)
}

func reachable(l *rafttest.Member, id uint64) bool {
	for _, m := range l.Node.Members() {
		if m.RaftID == id {
			return m.Reachable
		}
	}
	return false
}

func TestTransferLeadership(t *testing.T) {
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 8})
	proposeN(t, c, "k", 3)
	l := c.Leader()
	if err := l.Node.TransferLeadership(ctxT(t), 0); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if id, _ := l.Node.Leader(); id == l.ID {
		t.Fatal("still leader")
	}
	proposeN(t, c, "after", 3)
	c.WaitConverged(0, wait)
}

// TestFailoverWithDaemonTiming uses the daemon's real timing (100 ms ticks,
// ElectionTick 10) and logs how long writes stop after the leader dies. The
// target is < 3 s; the assertion is generous for a noisy machine.
func TestFailoverWithDaemonTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("takes seconds")
	}
	c, _ := threeNodes(t, rafttest.ClusterOptions{TickEvery: raft.DefaultTickInterval, Seed: 10})
	proposeN(t, c, "a", 3)
	old := c.Leader()
	start := time.Now()
	c.Stop(old)
	proposeN(t, c, "b", 1)
	d := time.Since(start)
	t.Logf("writes resumed %v after the leader was killed (target < 3s)", d)
	if d > 10*time.Second {
		t.Fatalf("failover took %v", d)
	}
}

// TestStarvedClusterKeepsItsLeader starves every member as one overloaded
// machine would: each tick comes three intervals late and every message
// takes 15 tick rounds to arrive, longer than the shortest election
// timeout. Late ticks do not count, so no follower campaigns and the leader
// does not step down (CheckQuorum) because they were starved themselves:
// the leader leads and the term stays the same all along (a follower may
// pre-vote, which changes nothing), and writes commit once the starvation
// ends.
func TestStarvedClusterKeepsItsLeader(t *testing.T) {
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 3, Manual: true})
	proposeN(t, c, "before", 3)
	l := c.Leader()
	term := l.Node.Status().Term
	var changed string
	leaderChanged := func() bool {
		if st := l.Node.Status(); st.Leader != l.ID {
			changed = fmt.Sprintf("round %d: leader %s stepped down (names %x)", c.Now(), l.NodeID, st.Leader)
			return true
		}
		for _, m := range c.Members() {
			if st := m.Node.Status(); st.Term != term {
				changed = fmt.Sprintf("round %d: %s is in term %d, want %d", c.Now(), m.NodeID, st.Term, term)
				return true
			}
		}
		return false
	}
	c.SetTickGap(3 * raft.DefaultTickInterval)
	c.Net.SetExactDelay(15)
	if c.RunUntil(leaderChanged, 4*raft.DefaultElectionTick) {
		t.Fatalf("starved: %s", changed)
	}
	c.Net.Heal()
	c.SetTickGap(raft.DefaultTickInterval)
	if c.RunUntil(leaderChanged, 2*raft.DefaultElectionTick) {
		t.Fatalf("after the starvation: %s", changed)
	}
	proposeN(t, c, "after", 3)
}

// TestStarvedLeaderKeepsLeading starves the leader's process alone, as at
// 2,400 nodes x 100k tasks where the leader serves every agent's session
// and its followers are idle: the leader takes one tick every four rounds,
// each four intervals late, while its followers tick on time. A slow
// leader is not a dead leader: it must keep sending heartbeats within the
// followers' election timeout. When the tick gate ignored a leader's late
// ticks too (three in four), heartbeats left every sixteen rounds, past
// most randomized election timeouts (ten to twenty rounds), and the
// followers elected a new leader, with every seed tried. (A follower may
// pre-vote now and then, which changes nothing.)
func TestStarvedLeaderKeepsLeading(t *testing.T) {
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 5, Manual: true})
	proposeN(t, c, "before", 3)
	l := c.Leader()
	term := l.Node.Status().Term
	var changed string
	leaderChanged := func() bool {
		if st := l.Node.Status(); st.Leader != l.ID {
			changed = fmt.Sprintf("round %d: leader %s stepped down (names %x)", c.Now(), l.NodeID, st.Leader)
			return true
		}
		for _, m := range c.Members() {
			if st := m.Node.Status(); st.Term != term {
				changed = fmt.Sprintf("round %d: %s is in term %d, want %d (an election)", c.Now(), m.NodeID, st.Term, term)
				return true
			}
		}
		return false
	}
	c.SetStarved(l, 4)
	if c.RunUntil(leaderChanged, 10*raft.DefaultElectionTick) {
		t.Fatalf("leader starved: %s", changed)
	}
	c.SetStarved(l, 0)
	proposeN(t, c, "after", 3)
}

// Snapshots written off the nodes' goroutines, due by bytes (SnapshotBytes
// 32 KiB, the interval out of reach): the log is compacted, a member
// joining afterwards is sent the snapshot (read back from the leader's
// bbolt file) and a restarted member reloads it.
func TestCapturedSnapshotsByBytesAndJoin(t *testing.T) {
	c := rafttest.NewCluster(t, rafttest.ClusterOptions{Capturing: true, SnapshotInterval: 1 << 40, SnapshotBytes: 32 << 10, TrailingEntries: 5, ChunkSize: 4 << 10, Seed: 31})
	c.Bootstrap(1)
	c.WaitLeader(wait)
	c.Join("n2")
	big := strings.Repeat("x", 2<<10)
	for i := range 60 {
		if err := c.Propose(rafttest.Set(fmt.Sprintf("k%d", i), big)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(0, wait)
	deadline := time.Now().Add(wait)
	for _, m := range c.Members() {
		for m.Node.Status().SnapshotIndex < 20 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if st := m.Node.Status(); st.SnapshotIndex < 20 {
			t.Fatalf("%s snapshot index %d, want >= 20 (snapshots by bytes)", m.NodeID, st.SnapshotIndex)
		}
	}
	m3 := c.Join("n3")
	c.WaitConverged(0, wait)
	if v, ok := m3.KV.Get("k0"); !ok || v != big {
		t.Fatal("joined member did not receive the snapshot")
	}
	proposeN(t, c, "after", 5)
	c.WaitConverged(0, wait)
	c.Stop(m3)
	m3 = c.Restart(m3)
	c.WaitConverged(0, wait)
	if _, ok := m3.KV.Get("after4"); !ok {
		t.Fatal("restarted member lost data")
	}
}
