package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The three costs RATIONALE.md ("Raft log file") weighs, on the disk of
// the test's temp dir: one Storage.Append of a 1 KiB entry with its
// HardState (the log file), the same records in one bbolt transaction as
// the log was stored before (bbolt commits with two fdatasyncs: pages,
// then meta), and a bare 4 KiB overwrite + fdatasync, the floor.

func BenchmarkAppendLogFile(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "raft.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 1024)
	i := uint64(0)
	for b.Loop() {
		i++
		e := &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Type: pb.EntryNormal.Enum(), Data: data}
		if err := s.Append(&pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(i - 1)}, []*pb.Entry{e}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBboltTx(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raft.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(bucketEntries); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketState)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	i := uint64(0)
	for b.Loop() {
		i++
		e := &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Type: pb.EntryNormal.Enum(), Data: data}
		if err := db.Update(func(tx *bolt.Tx) error {
			v, _ := proto.Marshal(e)
			if err := tx.Bucket(bucketEntries).Put(indexKey(i), v); err != nil {
				return err
			}
			h, _ := proto.Marshal(&pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(i - 1)})
			return tx.Bucket(bucketState).Put(keyHardState, h)
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFdatasync4KiBOverwrite(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	const slots = 1024
	if _, err := f.Write(make([]byte, slots*len(page))); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := f.WriteAt(page, int64(i%slots*len(page))); err != nil {
			b.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
