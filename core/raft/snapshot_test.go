package raft

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft/storage"
)

// fixedSM snapshots to a fixed payload.
type fixedSM struct{ data []byte }

func (fixedSM) Apply(uint64, []byte) error   { return nil }
func (s fixedSM) Snapshot() ([]byte, error)  { return s.data, nil }
func (fixedSM) Restore(uint64, []byte) error { return nil }

// capturingSM is a fixedSM whose snapshot is written off the node's
// goroutine (SnapshotCapturer).
type capturingSM struct{ fixedSM }

func (s capturingSM) CaptureSnapshot() func() ([]byte, error) {
	return func() ([]byte, error) { return s.data, nil }
}

// snapNode is a Node with a log of n applied entries of size bytes each,
// enough of a node for maybeSnapshot and compactLog.
func snapNode(t *testing.T, cfg Config, n, size int) *Node {
	t.Helper()
	st, err := storage.Open(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var ents []*pb.Entry
	for i := 1; i <= n; i++ {
		ents = append(ents, &pb.Entry{Index: proto.Uint64(uint64(i)), Term: proto.Uint64(1), Type: pb.EntryNormal.Enum(), Data: bytes.Repeat([]byte("x"), size)})
	}
	hs := &pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(uint64(n))}
	if err := st.Append(hs, ents, nil); err != nil {
		t.Fatal(err)
	}
	node := &Node{cfg: cfg, st: st, sm: fixedSM{data: []byte("state")}, mem: newMembership(), log: slog.New(slog.DiscardHandler), applied: uint64(n), snapDone: make(chan snapResult, 1)}
	node.snapEvery.Store(cfg.SnapshotInterval)
	return node
}

// The entries kept before a snapshot for slow followers are bounded by
// TrailingBytes as well as by TrailingEntries.
func TestCompactKeepsTrailingBytes(t *testing.T) {
	tests := []struct {
		name          string
		trailingBytes uint64
		wantFirst     uint64
	}{
		{"count bounds", 1 << 30, 31},  // the last 20 of 50 entries
		{"bytes bound", 5 << 10, 46},   // the last 5 KiB: 5 entries
		{"one entry too big", 512, 51}, // none
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := snapNode(t, Config{NodeID: "n1", SnapshotInterval: 1, TrailingEntries: 20, TrailingBytes: tc.trailingBytes}, 50, 1<<10)
			if err := n.maybeSnapshot(); err != nil {
				t.Fatal(err)
			}
			if first, _ := n.st.FirstIndex(); first != tc.wantFirst {
				t.Fatalf("first index %d after the snapshot at %d, want %d", first, n.snapIndex, tc.wantFirst)
			}
		})
	}
}

// finishAsync takes the result of the snapshot n is writing, as the loop
// does.
func finishAsync(t *testing.T, n *Node) {
	t.Helper()
	if !n.snapping {
		return
	}
	if err := n.finishSnapshot(<-n.snapDone); err != nil {
		t.Fatal(err)
	}
}

// A snapshot of a SnapshotCapturer is due by the bytes applied since the
// last one, not only by their count: at least SnapshotBytes, and at least
// the last snapshot's size. Another state machine snapshots by count only.
func TestSnapshotDueByBytes(t *testing.T) {
	tests := []struct {
		name                  string
		capturer              bool
		sinceBytes, lastBytes uint64
		want                  bool
	}{
		{"below SnapshotBytes", true, 10 << 10, 0, false},
		{"past SnapshotBytes", true, 20 << 10, 0, true},
		{"past SnapshotBytes, below the last snapshot's size", true, 20 << 10, 64 << 10, false},
		{"past the last snapshot's size", true, 65 << 10, 64 << 10, true},
		{"not a capturer", false, 65 << 10, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := snapNode(t, Config{NodeID: "n1", SnapshotInterval: 1 << 40, SnapshotBytes: 16 << 10, TrailingEntries: 5, TrailingBytes: 1 << 20}, 20, 1<<10)
			if tc.capturer {
				n.sm = capturingSM{fixedSM{data: []byte("state")}}
			}
			n.sinceSnapBytes, n.snapBytes = tc.sinceBytes, tc.lastBytes
			if err := n.maybeSnapshot(); err != nil {
				t.Fatal(err)
			}
			if tc.want && n.sinceSnapBytes != 0 {
				t.Fatalf("bytes since the snapshot %d after it, want 0", n.sinceSnapBytes)
			}
			finishAsync(t, n)
			if got := n.snapIndex == 20; got != tc.want {
				t.Fatalf("snapshot taken %v (index %d), want %v", got, n.snapIndex, tc.want)
			}
			if snap, err := n.st.Snapshot(); tc.want && (err != nil || snap.GetMetadata().GetIndex() != 20) {
				t.Fatalf("stored snapshot at %d (%v), want 20", snap.GetMetadata().GetIndex(), err)
			}
		})
	}
}

// A snapshot written off the node's goroutine is overtaken by the leader's
// newer snapshot installed meanwhile: it is dropped, and the newer one
// stays the stored snapshot.
func TestAsyncSnapshotOvertaken(t *testing.T) {
	n := snapNode(t, Config{NodeID: "n1", SnapshotInterval: 10, SnapshotBytes: 1 << 30, TrailingEntries: 5, TrailingBytes: 1 << 20}, 20, 10)
	release := make(chan struct{})
	n.sm = blockingSM{release: release}
	if err := n.maybeSnapshot(); err != nil {
		t.Fatal(err)
	}
	if !n.snapping {
		t.Fatal("no snapshot started")
	}
	leader := &pb.Snapshot{Data: []byte("leader"), Metadata: &pb.SnapshotMetadata{
		Index: proto.Uint64(30), Term: proto.Uint64(2), ConfState: &pb.ConfState{Voters: []uint64{1}},
	}}
	if err := n.st.Append(&pb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(1), Commit: proto.Uint64(30)}, nil, leader); err != nil {
		t.Fatal(err)
	}
	n.snapIndex, n.applied = 30, 30
	close(release)
	finishAsync(t, n)
	if n.snapIndex != 30 {
		t.Fatalf("snapshot index %d, want the leader's 30", n.snapIndex)
	}
	if snap, err := n.st.Snapshot(); err != nil || string(snap.GetData()) != "leader" {
		t.Fatalf("stored snapshot %q (%v), want the leader's", snap.GetData(), err)
	}
}

// blockingSM's snapshot waits for release.
type blockingSM struct {
	fixedSM
	release chan struct{}
}

func (s blockingSM) CaptureSnapshot() func() ([]byte, error) {
	return func() ([]byte, error) { <-s.release; return []byte("own"), nil }
}
