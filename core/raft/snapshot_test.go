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
	node := &Node{cfg: cfg, st: st, sm: fixedSM{data: []byte("state")}, mem: newMembership(), log: slog.New(slog.DiscardHandler), applied: uint64(n)}
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
