package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func datas(t *testing.T, s *Storage) []string {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if last < first {
		return nil
	}
	ents, err := s.Entries(first, last+1, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, string(e.GetData()))
	}
	return out
}

// A crash in the middle of an append leaves a torn record at the end of
// the log. It is cut off on open, so the entries written before it load
// and an entry appended afterwards is not hidden behind the torn bytes on
// the next load.
func TestTornLogTailIsCutOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // entries loaded after the tear
		tear func(t *testing.T, path string, size int64)
	}{
		{"cut in the middle of the last record", "[a b]", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size-3); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage after the last record", "[a b torn]", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{0, 0, 0, 40, 1, 2, 3, 4, 1, 'x'}, size); err != nil {
				t.Fatal(err)
			}
		}},
		{"last record's bytes not all written", "[a b]", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{0xff, 0xff}, size-2); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raft.db")
			s := open(t, path)
			if err := s.Append(hs(1, 1), []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b")}, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(nil, []*pb.Entry{ent(3, 1, "torn")}, nil); err != nil {
				t.Fatal(err)
			}
			size := s.wal.size // the file goes on with preallocated zeros
			s.Close()
			tc.tear(t, walPath(path), size)

			s = open(t, path)
			got := datas(t, s)
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("after the tear: %v, want %s", got, tc.want)
			}
			last, _ := s.LastIndex()
			if err := s.Append(hs(1, 2), []*pb.Entry{ent(last+1, 1, "after")}, nil); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprint(append(got, "after"))
			s.Close()
			s = open(t, path)
			defer s.Close()
			if got := fmt.Sprint(datas(t, s)); got != want {
				t.Fatalf("after an append behind the tear and a reload: %s, want %s", got, want)
			}
		})
	}
}

// Only a commit index that moved goes to the log without an fdatasync; a
// new term or vote, entries and snapshots are synced. The unsynced record
// is still read back after a clean Close.
func TestCommitOnlyHardStateIsWrittenUnsynced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	if err := s.Append(hs(1, 0), []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b")}, nil); err != nil {
		t.Fatal(err)
	}
	if !s.commitOnly(hs(1, 2)) || s.commitOnly(hs(2, 2)) || s.commitOnly(&pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(3), Commit: proto.Uint64(2)}) {
		t.Fatal("commitOnly: want true only for a HardState that differs in its commit index")
	}
	if err := s.Append(hs(1, 2), nil, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if h, _, _ := s.InitialState(); h.GetCommit() != 2 {
		t.Fatalf("commit %d after reload, want 2", h.GetCommit())
	}
}

// A bbolt file from before the log file: its entries and HardState move
// to the log file on open and leave bbolt.
func TestBboltLogMovesToTheLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	s.Close()
	if err := os.Remove(walPath(path)); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for i, d := range []string{"a", "b", "c"} {
			v, _ := proto.Marshal(ent(uint64(i+1), 1, d))
			if err := tx.Bucket(bucketEntries).Put(indexKey(uint64(i+1)), v); err != nil {
				return err
			}
		}
		v, _ := proto.Marshal(hs(1, 2))
		return tx.Bucket(bucketState).Put(keyHardState, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		s = open(t, path)
		if got := fmt.Sprint(datas(t, s)); got != "[a b c]" {
			t.Fatalf("round %d: entries %s", round, got)
		}
		if h, _, _ := s.InitialState(); h.GetCommit() != 2 || h.GetTerm() != 1 {
			t.Fatalf("round %d: hard state %v", round, h)
		}
		var left int
		_ = s.db.View(func(tx *bolt.Tx) error {
			left = tx.Bucket(bucketEntries).Stats().KeyN
			if tx.Bucket(bucketState).Get(keyHardState) != nil {
				left++
			}
			return nil
		})
		s.Close()
		if left != 0 {
			t.Fatalf("round %d: %d log records left in bbolt", round, left)
		}
	}
}

// A snapshot from the leader is written to bbolt before the log's reset
// record; a crash between them leaves the old log, which the snapshot
// superseded, and a commit index below the snapshot. The load drops that
// log and raises the commit index, so raft starts (it panics on a commit
// index below the snapshot's).
func TestSnapshotWrittenButLogNotReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	if err := s.Append(hs(1, 2), []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c"), ent(4, 1, "d")}, nil); err != nil {
		t.Fatal(err)
	}
	snap := &pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(3), Term: proto.Uint64(2), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	if err := s.db.Update(func(tx *bolt.Tx) error { return s.writeSnapshot(tx, snap) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if got := datas(t, s); len(got) != 0 {
		t.Fatalf("entries %v survived a snapshot of another term at their index", got)
	}
	h, _, _ := s.InitialState()
	if h.GetCommit() != 3 {
		t.Fatalf("commit %d, want the snapshot's index 3", h.GetCommit())
	}
	if _, err := etcdraft.NewRawNode(&etcdraft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s, MaxInflightMsgs: 1, Applied: 3}); err != nil {
		t.Fatal(err)
	}
}

// Compact rewrites the log file once it has doubled since its last
// rewrite: the file shrinks to the live entries, which load back.
func TestCompactRewritesTheLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path)
	s.rewriteMin = 1 << 10
	var es []*pb.Entry
	for i := uint64(1); i <= 100; i++ {
		es = append(es, ent(i, 1, fmt.Sprintf("entry-%03d-%s", i, make([]byte, 50))))
	}
	if err := s.Append(hs(1, 100), es, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(walPath(path))
	if _, err := s.CreateSnapshot(95, &pb.ConfState{Voters: []uint64{1}}, []byte("snap")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(90); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(walPath(path))
	if after.Size()*5 > before.Size() {
		t.Fatalf("log file %d bytes after the compaction, %d before: not rewritten", after.Size(), before.Size())
	}
	if err := s.Append(nil, []*pb.Entry{ent(101, 1, "entry-101")}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 96 || last != 101 {
		t.Fatalf("first %d last %d after reload, want 96 101", first, last)
	}
	if h, _, _ := s.InitialState(); h.GetCommit() != 100 {
		t.Fatalf("commit %d after reload, want 100", h.GetCommit())
	}
}
