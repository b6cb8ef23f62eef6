package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// DefaultSnapshotChunkSize is how many bytes of snapshot data go in one bbolt
// value when no other size is given.
const DefaultSnapshotChunkSize = 1 << 20

var (
	bucketEntries  = []byte("entries")
	bucketState    = []byte("state")
	bucketSnapshot = []byte("snapshot")
	bucketMembers  = []byte("members")
	bucketRemoved  = []byte("removed")

	keyHardState = []byte("hardstate")
	keyIdentity  = []byte("identity")
	keySnapMeta  = []byte("meta")
	keySnapCount = []byte("chunks")
	prefixChunk  = []byte("data/")
)

// Storage is a raft.Storage whose state survives restarts. The embedded
// MemoryStorage answers raft's reads; the write methods of Storage persist to
// bbolt before they change it. Use only Storage's write methods (Append,
// CreateSnapshot, Compact), never the MemoryStorage's directly.
type Storage struct {
	*etcdraft.MemoryStorage
	db        *bolt.DB
	chunkSize int
	cipher    Cipher
	// durableHS is the HardState last written; pendingHS a newer one
	// that differs from it only in Commit, not written yet (see Append).
	durableHS *pb.HardState
	pendingHS *pb.HardState
}

// Cipher seals the entries and snapshot data Storage writes, and opens
// them when it loads: encryption at rest (core/autolock). Metadata (the
// HardState, snapshot index and term, members) stays readable.
type Cipher interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// WithCipher seals entries and snapshots with c. A file must always be
// opened with the cipher (or none) it was written with.
func WithCipher(c Cipher) Option {
	return func(s *Storage) { s.cipher = c }
}

func (s *Storage) seal(v []byte) ([]byte, error) {
	if s.cipher == nil {
		return v, nil
	}
	return s.cipher.Seal(v)
}

func (s *Storage) open(v []byte) ([]byte, error) {
	if s.cipher == nil {
		return v, nil
	}
	return s.cipher.Open(v)
}

// Option configures Open.
type Option func(*Storage)

// WithSnapshotChunkSize sets how many bytes of snapshot data are stored per
// bbolt key (default 1 MiB).
func WithSnapshotChunkSize(n int) Option {
	return func(s *Storage) {
		if n > 0 {
			s.chunkSize = n
		}
	}
}

// Open opens (creating if needed) the bbolt file at path and loads its
// snapshot, HardState and entries into memory.
func Open(path string, opts ...Option) (*Storage, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("storage: create dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	s := &Storage{MemoryStorage: etcdraft.NewMemoryStorage(), db: db, chunkSize: DefaultSnapshotChunkSize}
	for _, o := range opts {
		o(s)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEntries, bucketState, bucketSnapshot, bucketMembers, bucketRemoved} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storage: init buckets: %w", err)
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close writes a HardState whose commit index alone moved since the last
// write (see Append), then closes the bbolt file.
func (s *Storage) Close() error {
	var err error
	if hs := s.pendingHS; hs != nil {
		err = s.db.Update(func(tx *bolt.Tx) error {
			v, err := proto.Marshal(hs)
			if err != nil {
				return err
			}
			return tx.Bucket(bucketState).Put(keyHardState, v)
		})
	}
	return errors.Join(err, s.db.Close())
}

func (s *Storage) load() error {
	return s.db.View(func(tx *bolt.Tx) error {
		snap, err := readSnapshot(tx)
		if err != nil {
			return err
		}
		if len(snap.Data) > 0 {
			if snap.Data, err = s.open(snap.Data); err != nil {
				return fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
			}
		}
		snapIndex := snap.GetMetadata().GetIndex()
		if snapIndex > 0 {
			if err := s.MemoryStorage.ApplySnapshot(snap); err != nil {
				return fmt.Errorf("storage: load snapshot: %w", err)
			}
		}
		if v := tx.Bucket(bucketState).Get(keyHardState); v != nil {
			hs := &pb.HardState{}
			if err := proto.Unmarshal(v, hs); err != nil {
				return fmt.Errorf("%w: hard state: %v", ErrCorrupt, err)
			}
			s.durableHS = hs
			if err := s.MemoryStorage.SetHardState(hs); err != nil {
				return err
			}
		}
		var ents []*pb.Entry
		c := tx.Bucket(bucketEntries).Cursor()
		next := snapIndex + 1
		for k, v := c.Seek(indexKey(next)); k != nil; k, v = c.Next() {
			idx := binary.BigEndian.Uint64(k)
			e := &pb.Entry{}
			plain, err := s.open(v)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrCorrupt, idx, err)
			}
			if err := proto.Unmarshal(plain, e); err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrCorrupt, idx, err)
			}
			if idx != next || e.GetIndex() != idx {
				if len(ents) == 0 && snapIndex == 0 && idx > next {
					// A log whose head was compacted without a snapshot cannot happen
					// through this package; refuse it rather than guess.
					return fmt.Errorf("%w: log starts at %d without a snapshot", ErrCorrupt, idx)
				}
				return fmt.Errorf("%w: log gap: want entry %d, found %d", ErrCorrupt, next, idx)
			}
			ents = append(ents, e)
			next++
		}
		if err := s.MemoryStorage.Append(ents); err != nil {
			return fmt.Errorf("storage: load entries: %w", err)
		}
		return nil
	})
}

func indexKey(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

// Append persists, in one fsynced bbolt transaction, a snapshot received from
// the leader (if not empty; it replaces the whole log), the new entries (they
// replace any stored entries at the same or later indexes) and the HardState
// (if not empty); then it updates the in-memory view. Call it with a Ready's
// Snapshot, Entries and HardState before sending that Ready's messages.
func (s *Storage) Append(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot) error {
	hasSnap := snap != nil && !etcdraft.IsEmptySnap(snap)
	hasHS := hs != nil && !etcdraft.IsEmptyHardState(hs)
	if !hasSnap && !hasHS && len(ents) == 0 {
		return nil
	}
	if !hasSnap && len(ents) == 0 && s.commitOnly(hs) {
		// Only the commit index moved: raft needs no fsync for that
		// (raft.MustSync), a commit index found older after a crash is
		// learnt again from the leader. It is written with the next
		// transaction (or Close).
		s.pendingHS = proto.CloneOf(hs)
		return s.MemoryStorage.SetHardState(hs)
	}
	if !hasHS && s.pendingHS != nil {
		hs, hasHS = s.pendingHS, true
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		if hasSnap {
			if err := s.writeSnapshot(tx, snap); err != nil {
				return err
			}
			if err := deleteFrom(eb, 0); err != nil {
				return err
			}
		}
		if len(ents) > 0 {
			if err := deleteFrom(eb, ents[0].GetIndex()); err != nil {
				return err
			}
			for _, e := range ents {
				v, err := proto.Marshal(e)
				if err != nil {
					return err
				}
				if v, err = s.seal(v); err != nil {
					return err
				}
				if err := eb.Put(indexKey(e.GetIndex()), v); err != nil {
					return err
				}
			}
		}
		if hasHS {
			v, err := proto.Marshal(hs)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketState).Put(keyHardState, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: append: %w", err)
	}
	if hasSnap {
		if err := s.MemoryStorage.ApplySnapshot(snap); err != nil && !errors.Is(err, etcdraft.ErrSnapOutOfDate) {
			return fmt.Errorf("storage: apply snapshot: %w", err)
		}
	}
	if err := s.MemoryStorage.Append(ents); err != nil {
		return fmt.Errorf("storage: append: %w", err)
	}
	if hasHS {
		s.durableHS, s.pendingHS = proto.CloneOf(hs), nil
		if err := s.MemoryStorage.SetHardState(hs); err != nil {
			return err
		}
	}
	return nil
}

// commitOnly reports whether hs differs from the durable HardState only in
// its commit index.
func (s *Storage) commitOnly(hs *pb.HardState) bool {
	d := s.durableHS
	return d != nil && hs.GetTerm() == d.GetTerm() && hs.GetVote() == d.GetVote()
}

// deleteFrom deletes every entry with index >= from.
func deleteFrom(b *bolt.Bucket, from uint64) error {
	c := b.Cursor()
	var keys [][]byte
	for k, _ := c.Seek(indexKey(from)); k != nil; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// CreateSnapshot records data as the snapshot at applied index i with
// configuration cs, persisting it before the in-memory view changes. It does
// not compact the log; call Compact.
func (s *Storage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	term, err := s.MemoryStorage.Term(i)
	if err != nil {
		return nil, fmt.Errorf("storage: snapshot at %d: %w", i, err)
	}
	snap := &pb.Snapshot{
		Data: data,
		Metadata: &pb.SnapshotMetadata{
			Index:     proto.Uint64(i),
			Term:      proto.Uint64(term),
			ConfState: proto.Clone(pb.EnsureConfState(cs)).(*pb.ConfState),
		},
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return s.writeSnapshot(tx, snap) }); err != nil {
		return nil, fmt.Errorf("storage: write snapshot: %w", err)
	}
	out, err := s.MemoryStorage.CreateSnapshot(i, cs, data)
	if err != nil {
		return nil, fmt.Errorf("storage: snapshot at %d: %w", i, err)
	}
	return out, nil
}

// Compact discards the entries before index i (which must be <= the last
// snapshot's index), in memory and on disk.
func (s *Storage) Compact(i uint64) error {
	if err := s.MemoryStorage.Compact(i); err != nil {
		return fmt.Errorf("storage: compact %d: %w", i, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		c := b.Cursor()
		var keys [][]byte
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < i; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: compact %d: %w", i, err)
	}
	return nil
}

func (s *Storage) writeSnapshot(tx *bolt.Tx, snap *pb.Snapshot) error {
	if err := tx.DeleteBucket(bucketSnapshot); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
		return err
	}
	b, err := tx.CreateBucket(bucketSnapshot)
	if err != nil {
		return err
	}
	meta, err := proto.Marshal(pb.EnsureSnapshotMetadata(snap.GetMetadata()))
	if err != nil {
		return err
	}
	if err := b.Put(keySnapMeta, meta); err != nil {
		return err
	}
	data, err := s.seal(snap.GetData())
	if err != nil {
		return err
	}
	n := uint32(0)
	for off := 0; off < len(data); off += s.chunkSize {
		end := min(off+s.chunkSize, len(data))
		if err := b.Put(chunkKey(n), data[off:end]); err != nil {
			return err
		}
		n++
	}
	var cnt [4]byte
	binary.BigEndian.PutUint32(cnt[:], n)
	return b.Put(keySnapCount, cnt[:])
}

func chunkKey(n uint32) []byte {
	k := make([]byte, len(prefixChunk)+4)
	copy(k, prefixChunk)
	binary.BigEndian.PutUint32(k[len(prefixChunk):], n)
	return k
}

func readSnapshot(tx *bolt.Tx) (*pb.Snapshot, error) {
	b := tx.Bucket(bucketSnapshot)
	snap := pb.EnsureSnapshot(nil)
	metaBytes := b.Get(keySnapMeta)
	if metaBytes == nil {
		return snap, nil
	}
	if err := proto.Unmarshal(metaBytes, snap.Metadata); err != nil {
		return nil, fmt.Errorf("%w: snapshot metadata: %v", ErrCorrupt, err)
	}
	cnt := b.Get(keySnapCount)
	if len(cnt) != 4 {
		return nil, fmt.Errorf("%w: snapshot chunk count", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(cnt)
	var data []byte
	for i := range n {
		v := b.Get(chunkKey(i))
		if v == nil {
			return nil, fmt.Errorf("%w: snapshot chunk %d of %d missing", ErrCorrupt, i, n)
		}
		data = append(data, v...)
	}
	snap.Data = data
	return snap, nil
}
