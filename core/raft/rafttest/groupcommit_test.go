package rafttest_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft/rafttest"
	"github.com/shoal-project/shoal/core/raft/storage"
)

// Group commit: proposals that queue while the leader is busy with one
// Ready (here held inside its send; in production, its fdatasync) go into
// the next Ready together: one write and one fdatasync of the log file for
// all of them. Seen from the leader's log file as each MsgApp leaves (raft
// sends one per proposal, all before the Ready's write): together, none
// of the queued entries is written yet when the last one's MsgApp leaves;
// one proposal per Ready, all the others are.
func TestQueuedProposalsShareOneReady(t *testing.T) {
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: 15})
	l := c.WaitLeader(wait)
	const queued = 32
	hold := make(chan struct{})
	var held atomic.Bool
	var mu sync.Mutex
	most, sent := 0, 0 // the most queued entries in the leader's log at a MsgApp; MsgApps seen
	c.Net.OnSend(func(from uint64, m *pb.Message) {
		if from != l.ID || m.GetType() != pb.MessageType_MsgApp {
			return
		}
		carries := false
		for _, e := range m.GetEntries() {
			if bytes.Contains(e.GetData(), []byte("hold")) && held.CompareAndSwap(false, true) {
				<-hold // the leader's goroutine waits; proposals queue behind it
			}
			carries = carries || bytes.Contains(e.GetData(), []byte("batch"))
		}
		if !carries {
			return
		}
		_, ents, err := storage.ReadLog(filepath.Join(l.Dir, "raft.db"), nil)
		if err != nil {
			t.Error(err)
			return
		}
		n := 0
		for _, e := range ents {
			if bytes.Contains(e.GetData(), []byte("batch")) {
				n++
			}
		}
		mu.Lock()
		most = max(most, n)
		sent++
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, queued+1)
	go func() { errs <- l.Node.Propose(ctx, rafttest.Set("hold", "1")) }()
	if !c.Await(wait, held.Load) {
		close(hold)
		t.Fatal("the leader never sent the held entry")
	}
	for i := range queued {
		go func() { errs <- l.Node.Propose(ctx, rafttest.Set(fmt.Sprintf("batch%d", i), "v")) }()
	}
	time.Sleep(300 * time.Millisecond) // the proposals reach the leader's queue
	close(hold)
	for range queued + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d MsgApps with queued entries; at most %d of the %d queued entries in the leader's log as one left", sent, most, queued)
	if sent == 0 || most >= queued/2 {
		t.Fatalf("at most %d of %d queued entries were in the leader's log as a MsgApp left (%d seen): want them written together", most, queued, sent)
	}
}
