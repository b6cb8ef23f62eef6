package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	bolt "go.etcd.io/bbolt"
	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(i, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hs(term, commit uint64) *pb.HardState {
	return &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(1), Commit: proto.Uint64(commit)}
}

func open(t *testing.T, path string) *Storage {
	t.Helper()
	s, err := Open(path, WithSnapshotChunkSize(7))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func terms(t *testing.T, s *Storage) []uint64 {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	var out []uint64
	for i := first; i <= last; i++ {
		term, err := s.Term(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, term)
	}
	return out
}

func TestAppendTruncateReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	if err := s.Append(hs(1, 0), []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c")}, nil); err != nil {
		t.Fatal(err)
	}
	// A new leader overwrites the tail from index 2.
	if err := s.Append(hs(2, 2), []*pb.Entry{ent(2, 2, "B")}, nil); err != nil {
		t.Fatal(err)
	}
	want := []uint64{1, 2}
	if got := terms(t, s); !equal(got, want) {
		t.Fatalf("terms %v, want %v", got, want)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if got := terms(t, s); !equal(got, want) {
		t.Fatalf("after reload terms %v, want %v", got, want)
	}
	h, _, _ := s.InitialState()
	if h.GetCommit() != 2 || h.GetTerm() != 2 {
		t.Fatalf("hard state %v", h)
	}
	ents, err := s.Entries(2, 3, 1<<20)
	if err != nil || string(ents[0].GetData()) != "B" {
		t.Fatalf("entries %v %v", ents, err)
	}
}

func TestSnapshotCompactReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	var es []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		es = append(es, ent(i, 1, "x"))
	}
	if err := s.Append(hs(1, 10), es, nil); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("snapshot-data-"), 10) // several 7-byte chunks
	cs := &pb.ConfState{Voters: []uint64{1, 2}}
	if _, err := s.CreateSnapshot(8, cs, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(6); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	snap, _ := s.Snapshot()
	if snap.GetMetadata().GetIndex() != 8 || !bytes.Equal(snap.GetData(), data) {
		t.Fatalf("snapshot %d, %d bytes", snap.GetMetadata().GetIndex(), len(snap.GetData()))
	}
	_, gotCS, _ := s.InitialState()
	if len(gotCS.GetVoters()) != 2 {
		t.Fatalf("conf state %v", gotCS)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 9 || last != 10 {
		t.Fatalf("first %d last %d, want 9 10", first, last)
	}
	if _, err := s.Entries(5, 6, 100); !errors.Is(err, etcdraft.ErrCompacted) {
		t.Fatalf("compacted entries: %v", err)
	}
}

func TestReceivedSnapshotReplacesLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	if err := s.Append(hs(1, 2), []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b")}, nil); err != nil {
		t.Fatal(err)
	}
	snap := &pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(50), Term: proto.Uint64(3), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	if err := s.Append(hs(3, 50), []*pb.Entry{ent(51, 3, "n")}, snap); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 51 || last != 51 {
		t.Fatalf("first %d last %d", first, last)
	}
}

func TestIdentityAndMembers(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "raft.db"))
	defer s.Close()
	if _, ok, err := s.Identity(); ok || err != nil {
		t.Fatalf("fresh identity: %v %v", ok, err)
	}
	if err := s.SetIdentity(Identity{RaftID: 5, NodeID: "n5", Addr: "h:1"}); err != nil {
		t.Fatal(err)
	}
	id, ok, err := s.Identity()
	if !ok || err != nil || id != (Identity{RaftID: 5, NodeID: "n5", Addr: "h:1"}) {
		t.Fatalf("identity %+v %v %v", id, ok, err)
	}
	_ = s.PutMember(Member{RaftID: 5, NodeID: "n5", Addr: "h:1"})
	_ = s.PutMember(Member{RaftID: 6, NodeID: "n6", Addr: "h:2"})
	_ = s.RemoveMember(6)
	ms, removed, err := s.Members()
	if err != nil || len(ms) != 1 || ms[0].RaftID != 5 || len(removed) != 1 || removed[0] != 6 {
		t.Fatalf("members %+v removed %v err %v", ms, removed, err)
	}
	if err := s.SetMembers([]Member{{RaftID: 7, NodeID: "n7", Addr: "h:3"}}, nil); err != nil {
		t.Fatal(err)
	}
	ms, removed, _ = s.Members()
	if len(ms) != 1 || ms[0].RaftID != 7 || len(removed) != 0 {
		t.Fatalf("after SetMembers %+v %v", ms, removed)
	}
}

func TestLearnerFlagSurvivesReopenAndPromotion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	if err := s.PutMember(Member{RaftID: 1, NodeID: "n1", Addr: "h:1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMember(Member{RaftID: 2, NodeID: "n2", Addr: "h:2", Learner: true}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	ms, _, err := s.Members()
	if err != nil || len(ms) != 2 || ms[0].Learner || !ms[1].Learner || ms[1].Addr != "h:2" {
		t.Fatalf("after reopen %+v %v", ms, err)
	}
	// Promotion rewrites the record without the flag.
	if err := s.PutMember(Member{RaftID: 2, NodeID: "n2", Addr: "h:2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMembers([]Member{{RaftID: 3, NodeID: "n3", Addr: "h:3", Learner: true}, ms[0]}, nil); err != nil {
		t.Fatal(err)
	}
	ms, _, _ = s.Members()
	if len(ms) != 2 || ms[0].Learner || ms[0].RaftID != 1 || !ms[1].Learner {
		t.Fatalf("after SetMembers %+v", ms)
	}
	s.Close()
}

func TestMemberRecordDecode(t *testing.T) {
	voter := EncodeMember("n", "a")
	tests := []struct {
		name    string
		rec     []byte
		learner bool
		wantErr bool
	}{
		{"legacy record without flags is a voter", voter, false, false},
		{"zero flags", append(append([]byte(nil), voter...), 0), false, false},
		{"learner", append(append([]byte(nil), voter...), flagLearner), true, false},
		{"unknown flag", append(append([]byte(nil), voter...), 2), false, true},
		{"trailing garbage", append(append([]byte(nil), voter...), 1, 1), false, true},
		{"truncated", voter[:2], false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeMemberRecord(9, tc.rec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (m.Learner != tc.learner || m.RaftID != 9 || m.NodeID != "n" || m.Addr != "a") {
				t.Fatalf("decoded %+v", m)
			}
		})
	}
}

func FuzzDecodeMember(f *testing.F) {
	f.Add(EncodeMember("node", "addr:1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, a, _, err := DecodeMember(b)
		if err == nil {
			if n2, a2, _, err := DecodeMember(EncodeMember(n, a)); err != nil || n2 != n || a2 != a {
				t.Fatal("round trip")
			}
		}
	})
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The snapshot's data lives in the bbolt file only: the in-memory view
// keeps its metadata, whether the snapshot was created here, received from
// the leader or loaded at start, and Snapshot reads the data back.
func TestSnapshotDataNotHeldInMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	var es []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		es = append(es, ent(i, 1, "x"))
	}
	if err := s.Append(hs(1, 10), es, nil); err != nil {
		t.Fatal(err)
	}
	check := func(step string, index uint64, data []byte) {
		t.Helper()
		mem, _ := s.MemoryStorage.Snapshot()
		if mem.GetMetadata().GetIndex() != index || len(mem.GetData()) != 0 {
			t.Fatalf("%s: in-memory snapshot at %d holds %d bytes, want %d and none", step, mem.GetMetadata().GetIndex(), len(mem.GetData()), index)
		}
		snap, err := s.Snapshot()
		if err != nil || snap.GetMetadata().GetIndex() != index || !bytes.Equal(snap.GetData(), data) {
			t.Fatalf("%s: Snapshot() at %d with %q (%v), want %d with %q", step, snap.GetMetadata().GetIndex(), snap.GetData(), err, index, data)
		}
	}
	created := []byte("created-snapshot")
	if _, err := s.CreateSnapshot(8, &pb.ConfState{Voters: []uint64{1}}, created); err != nil {
		t.Fatal(err)
	}
	check("created", 8, created)
	received := []byte("received-snapshot")
	snap := &pb.Snapshot{Data: received, Metadata: &pb.SnapshotMetadata{
		Index: proto.Uint64(20), Term: proto.Uint64(2), ConfState: &pb.ConfState{Voters: []uint64{1}},
	}}
	if err := s.Append(hs(2, 20), nil, snap); err != nil {
		t.Fatal(err)
	}
	check("received", 20, received)
	s.Close()
	s = open(t, path)
	defer s.Close()
	check("loaded", 20, received)
}

// While CreateSnapshot runs beside the node's goroutine, the file holds the
// new snapshot before the in-memory view does: Snapshot answers with the
// file's (raft panics on an error other than "temporarily unavailable").
func TestSnapshotWhileTheFileIsAhead(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "raft.db"))
	defer s.Close()
	var es []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		es = append(es, ent(i, 1, "x"))
	}
	if err := s.Append(hs(1, 10), es, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnapshot(5, &pb.ConfState{Voters: []uint64{1}}, []byte("five")); err != nil {
		t.Fatal(err)
	}
	ahead := &pb.Snapshot{Data: []byte("eight"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(8), Term: proto.Uint64(1), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	if err := s.db.Update(func(tx *bolt.Tx) error { return s.writeSnapshot(tx, ahead) }); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot()
	if err != nil || snap.GetMetadata().GetIndex() != 8 || string(snap.GetData()) != "eight" {
		t.Fatalf("Snapshot() = %d %q (%v), want the file's 8 \"eight\"", snap.GetMetadata().GetIndex(), snap.GetData(), err)
	}
}

// TestGrowingSnapshotsAllocateTheirSizeOnce: a snapshot written into a
// bbolt file that must grow costs its size in bbolt's page buffers, not
// also a copy of every node bbolt holds (what a remap of a file mapped
// just large enough did: 40 MiB allocated for an 8 MiB snapshot). The
// store's snapshots grow with the cluster, so without a large initial
// mapping every few snapshots paid the copy, on the leader too.
func TestGrowingSnapshotsAllocateTheirSizeOnce(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ents []*pb.Entry
	for i := uint64(1); i <= 8; i++ {
		ents = append(ents, &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Type: pb.EntryNormal.Enum()})
	}
	if err := s.Append(&pb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(8)}, ents, nil); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 8; i++ {
		data := make([]byte, int(i)*4<<20)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := s.CreateSnapshot(i, &pb.ConfState{Voters: []uint64{1}}, data); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(len(data))*5/4+1<<20; got > limit {
			t.Fatalf("a %d MiB snapshot allocated %d MiB; want at most %d MiB", len(data)>>20, got>>20, limit>>20)
		}
	}
}
