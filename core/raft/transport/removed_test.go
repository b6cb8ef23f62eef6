package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/raft"
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

// A member cut off while the others remove it learns of its removal from
// the answers to its own messages (its pre-votes), though it never gets the
// entry that removed it.
func TestCutOffMemberLearnsItWasRemoved(t *testing.T) {
	dir := t.TempDir()
	s1 := startServer(t, dir, "m1", nil)
	waitFor(t, "m1 leader", s1.node.IsLeader)
	startServer(t, dir, "m2", joinVia(t, s1, "m2"))
	s3 := startServer(t, dir, "m3", joinVia(t, s1, "m3"))
	waitVoters(t, s1, 3)
	// m3 hears nothing from now on, but can still send.
	_ = s3.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s1.node.RemoveMember(ctx, s3.node.ID()); err != nil {
		t.Fatalf("remove m3: %v", err)
	}
	select {
	case <-s3.node.Removed():
	case <-time.After(30 * time.Second):
		t.Fatalf("m3 never learned of its removal: %+v", s3.node.Status())
	}
}

// A member removed while it was down learns of its removal once restarted.
func TestMemberRemovedWhileDownLearnsItOnRestart(t *testing.T) {
	dir := t.TempDir()
	s1 := startServer(t, dir, "m1", nil)
	waitFor(t, "m1 leader", s1.node.IsLeader)
	startServer(t, dir, "m2", joinVia(t, s1, "m2"))
	s3 := startServer(t, dir, "m3", joinVia(t, s1, "m3"))
	waitVoters(t, s1, 3)
	id, addr := s3.node.ID(), s3.ln.Addr().String()
	_ = s3.node.Stop()
	_ = s3.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s1.node.RemoveMember(ctx, id); err != nil {
		t.Fatalf("remove m3: %v", err)
	}
	s3 = startServerAt(t, dir, "m3", addr, raft.Restart)
	select {
	case <-s3.node.Removed():
	case <-time.After(30 * time.Second):
		t.Fatalf("m3 never learned of its removal: %+v", s3.node.Status())
	}
}

// In a group of two, the member removed right after its restart holds the
// entry that removes it (the removal needs its vote) but never hears that
// it committed: it learns of its removal from the answer to its pre-vote.
func TestRemovedRightAfterRestartInGroupOfTwo(t *testing.T) {
	dir := t.TempDir()
	s1 := startServer(t, dir, "m1", nil)
	waitFor(t, "m1 leader", s1.node.IsLeader)
	s2 := startServer(t, dir, "m2", joinVia(t, s1, "m2"))
	waitVoters(t, s1, 2)
	id, addr := s2.node.ID(), s2.ln.Addr().String()
	_ = s2.node.Stop()
	_ = s2.srv.Close()
	s2 = startServerAt(t, dir, "m2", addr, raft.Restart)
	waitFor(t, "m2 follows m1", func() bool { return s2.node.Status().Leader == s1.node.ID() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s1.node.RemoveMember(ctx, id); err != nil {
		t.Fatalf("remove m2: %v", err)
	}
	select {
	case <-s2.node.Removed():
	case <-time.After(30 * time.Second):
		t.Fatalf("m2 never learned of its removal: %+v", s2.node.Status())
	}
}
