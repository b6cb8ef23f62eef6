package transport_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/rafttest"
	"github.com/shoal-project/shoal/core/raft/transport"
)

// waitVoters waits until s's member list has n voters.
func waitVoters(t *testing.T, s *server, n int) {
	t.Helper()
	waitFor(t, "voters", func() bool {
		v := 0
		for _, m := range s.node.Members() {
			if !m.Learner {
				v++
			}
		}
		return v == n
	})
}

// removeAndWait removes member id through leader, then waits until the
// member that after returns (it may start it) knows it was removed.
func removeAndWait(t *testing.T, leader *server, id uint64, after func() *server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := leader.node.RemoveMember(ctx, id); err != nil {
		t.Fatalf("remove %x: %v", id, err)
	}
	s := after()
	select {
	case <-s.node.Removed():
	case <-time.After(30 * time.Second):
		t.Fatalf("%x never learned of its removal: %+v", id, s.node.Status())
	}
}

// threeVoters starts m1 (the leader), m2 and m3 under dir.
func threeVoters(t *testing.T, dir string) (s1, s3 *server) {
	t.Helper()
	s1 = startServer(t, dir, "m1", nil)
	waitFor(t, "m1 leader", s1.node.IsLeader)
	startServer(t, dir, "m2", joinVia(t, s1, "m2"))
	s3 = startServer(t, dir, "m3", joinVia(t, s1, "m3"))
	waitVoters(t, s1, 3)
	return s1, s3
}

// restartAt starts the member stored under dir/nodeID again on addr.
func restartAt(t *testing.T, dir, nodeID, addr string) *server {
	return startServerAt(t, dir, nodeID, addr, raft.Restart)
}

// A member cut off while the others remove it learns of its removal from
// the answers to its own messages (its pre-votes), though it never gets the
// entry that removed it.
func TestCutOffMemberLearnsItWasRemoved(t *testing.T) {
	dir := t.TempDir()
	s1, s3 := threeVoters(t, dir)
	// m3 hears nothing from now on, but can still send.
	_ = s3.srv.Close()
	removeAndWait(t, s1, s3.node.ID(), func() *server { return s3 })

	// Told, it stops campaigning: no more pre-votes for its peers to
	// refuse (before, it campaigned every election timeout for ever).
	time.Sleep(500 * time.Millisecond) // a batch already sent may still be answered
	before := s1.refused.Load()
	time.Sleep(3 * raft.DefaultElectionTick * raft.DefaultTickInterval)
	if n := s1.refused.Load() - before; n != 0 {
		t.Errorf("the removed member sent %d more messages after it knew", n)
	}
}

// A member removed while it was down learns of its removal once restarted.
func TestMemberRemovedWhileDownLearnsItOnRestart(t *testing.T) {
	dir := t.TempDir()
	s1, s3 := threeVoters(t, dir)
	id, addr := s3.node.ID(), s3.ln.Addr().String()
	_ = s3.node.Stop()
	_ = s3.srv.Close()
	removeAndWait(t, s1, id, func() *server { return restartAt(t, dir, "m3", addr) })
}

// In a group of two, the member removed right after its restart holds the
// entry that removes it (the removal needs its vote) but may never hear
// that it committed: it learns of its removal from the answer to its
// pre-vote if not from the commit.
func TestRemovedRightAfterRestartInGroupOfTwo(t *testing.T) {
	dir := t.TempDir()
	s1 := startServer(t, dir, "m1", nil)
	waitFor(t, "m1 leader", s1.node.IsLeader)
	s2 := startServer(t, dir, "m2", joinVia(t, s1, "m2"))
	waitVoters(t, s1, 2)
	id, addr := s2.node.ID(), s2.ln.Addr().String()
	_ = s2.node.Stop()
	_ = s2.srv.Close()
	s2 = restartAt(t, dir, "m2", addr)
	waitFor(t, "m2 follows m1", func() bool { return s2.node.Status().Leader == s1.node.ID() })
	removeAndWait(t, s1, id, func() *server { return s2 })
}

// A learner that never hears from the leader (it cannot be reached) sends
// nothing either: learners do not campaign, so no refusal of its messages
// can tell it of its removal. After a silence of two election timeouts it
// asks its peers (ResolveAddress of its own ID) and learns it.
func TestUnreachableLearnerLearnsItWasRemoved(t *testing.T) {
	dir := t.TempDir()
	s1 := startServer(t, dir, "m1", nil)
	waitFor(t, "m1 leader", s1.node.IsLeader)
	startServer(t, dir, "m2", joinVia(t, s1, "m2"))
	waitVoters(t, s1, 2)
	// m3 listens nowhere: the leader adds it as a learner and never reaches it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	id, members := joinVia(t, s1, "m3")(addr)
	m3, err := raft.Join(raft.Config{
		NodeID: "m3", Addr: addr, DataDir: filepath.Join(dir, "m3"), StateMachine: rafttest.NewKV(),
		Transport: transport.New(transport.Options{Client: clientFor("m3")}), Logger: slog.New(slog.DiscardHandler),
	}, id, members, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m3.Stop() })
	removeAndWait(t, s1, id, func() *server { return &server{node: m3} })
}
