package rafttest_test

import (
	"path/filepath"
	"sync"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft/rafttest"
	"github.com/shoal-project/shoal/core/raft/storage"
)

// hasEntry reports whether the log file of the member in dir holds the
// entry at index (with term) at this moment.
func hasEntry(t *testing.T, dir string, index, term uint64) bool {
	_, ents, err := storage.ReadLog(filepath.Join(dir, "raft.db"), nil)
	if err != nil {
		t.Errorf("read the log in %s: %v", dir, err)
		return false
	}
	for _, e := range ents {
		if e.GetIndex() == index {
			return e.GetTerm() == term
		}
	}
	return false
}

// The Ready order the commit path rests on, seen from the log files at the
// moment each message leaves its sender:
//   - a follower acknowledges (MsgAppResp) only entries its log file holds,
//     so an entry counted towards a quorum is on that follower's disk;
//   - the leader sends the MsgApp carrying new entries before they are in
//     its own log file: its write and fdatasync run while the followers
//     write theirs (the leader's own vote for them comes after its write).
//
// Sending every message after the write (the old order) fails the second;
// sending every message before it fails the first.
func TestAcksFollowTheLogWriteAndLeaderSendsFirst(t *testing.T) {
	c, ms := threeNodes(t, rafttest.ClusterOptions{Seed: 14})
	dirs := map[uint64]string{}
	for _, m := range ms {
		dirs[m.ID] = m.Dir
	}
	var (
		mu                     sync.Mutex
		acks, unwrittenAcks    int
		appsOut, appsUnwritten int
		terms                  = map[uint64]uint64{} // index -> term, from the MsgApps
	)
	c.Net.OnSend(func(from uint64, m *pb.Message) {
		mu.Lock()
		defer mu.Unlock()
		switch m.GetType() {
		case pb.MessageType_MsgApp:
			ents := m.GetEntries()
			if len(ents) == 0 {
				return
			}
			last := ents[len(ents)-1]
			if _, seen := terms[last.GetIndex()]; seen {
				return // a retransmission
			}
			for _, e := range ents {
				terms[e.GetIndex()] = e.GetTerm()
			}
			appsOut++
			if !hasEntry(t, dirs[from], last.GetIndex(), last.GetTerm()) {
				appsUnwritten++
			}
		case pb.MessageType_MsgAppResp:
			term, ok := terms[m.GetIndex()]
			if m.GetReject() || !ok {
				return
			}
			acks++
			if !hasEntry(t, dirs[from], m.GetIndex(), term) {
				unwrittenAcks++
				t.Errorf("member %x acknowledged entry %d before its log file held it", from, m.GetIndex())
			}
		}
	})
	proposeN(t, c, "k", 30)
	c.WaitConverged(0, wait)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d MsgApps with new entries, %d sent before the leader's write; %d acknowledgements, %d before the follower's write", appsOut, appsUnwritten, acks, unwrittenAcks)
	if acks < 30 {
		t.Fatalf("only %d acknowledgements of new entries seen", acks)
	}
	if appsUnwritten < appsOut/2 || appsUnwritten == 0 {
		t.Fatalf("%d of %d MsgApps with new entries left the leader before its write: want most", appsUnwritten, appsOut)
	}
}
