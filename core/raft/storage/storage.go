package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// DefaultSnapshotChunkSize is how many bytes of snapshot data go in one bbolt
// value when no other size is given.
const DefaultSnapshotChunkSize = 1 << 20

// initialMmapSize is how much address space bbolt maps at open (not memory:
// pages are read in as they are touched). A file that outgrows its mapping
// is remapped, and a remap inside a write copies every node the
// transaction holds onto the heap: writing a snapshot that grew the file
// allocated several times its size (TestGrowingSnapshotsAllocateTheirSizeOnce).
// etcd maps 10 GiB for the same reason.
const initialMmapSize = 1 << 30

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
// MemoryStorage answers raft's reads; the write methods of Storage persist
// before they change it. Use only Storage's write methods (Append,
// CreateSnapshot, Compact), never the MemoryStorage's directly.
//
// The entries and the HardState go to an append-only log file beside the
// bbolt file (wal.go): one write and one fdatasync per Append. bbolt keeps
// the snapshot, the identity and the membership table.
type Storage struct {
	*etcdraft.MemoryStorage
	db        *bolt.DB
	wal       *wal
	chunkSize int
	cipher    Cipher
	// lastHS is the HardState last written to the log.
	lastHS *pb.HardState
	// rewriteMin is the log size below which Compact never rewrites it.
	rewriteMin int64
	// snapMu orders the snapshots written to the bbolt file: CreateSnapshot
	// may run on another goroutine than Append, which installs the leader's
	// snapshots, and an older snapshot must never replace a newer one.
	snapMu sync.Mutex
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

// Open opens (creating if needed) the bbolt file at path and the log file
// beside it (path with the extension .wal), and loads the snapshot,
// HardState and entries into memory. A bbolt file written before the log
// file existed has its entries and HardState moved to a new log file.
func Open(path string, opts ...Option) (*Storage, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("storage: create dir: %w", err)
	}
	// NoFreelistSync: the freelist is rebuilt on open instead of written
	// with every commit (fewer pages per transaction).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true, InitialMmapSize: initialMmapSize})
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	s := &Storage{MemoryStorage: etcdraft.NewMemoryStorage(), db: db, chunkSize: DefaultSnapshotChunkSize, rewriteMin: walRewriteMin}
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
	if err := s.load(walPath(path)); err != nil {
		if s.wal != nil {
			_ = s.wal.f.Close()
		}
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close syncs the log (a HardState whose commit index alone moved is
// written without fdatasync, see Append) and closes both files.
func (s *Storage) Close() error {
	var err error
	if s.wal != nil {
		err = s.wal.close()
	}
	return errors.Join(err, s.db.Close())
}

func (s *Storage) load(walFile string) error {
	var (
		snap       *pb.Snapshot
		legacyHS   *pb.HardState
		legacyEnts []*pb.Entry
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if snap, err = readSnapshot(tx); err != nil {
			return err
		}
		if len(snap.Data) > 0 {
			if snap.Data, err = s.open(snap.Data); err != nil {
				return fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
			}
		}
		if legacyHS, err = readLegacyHardState(tx); err != nil {
			return err
		}
		legacyEnts, err = s.readLegacyEntries(tx, snap.GetMetadata().GetIndex())
		return err
	})
	if err != nil {
		return err
	}
	snapIndex, snapTerm := snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	if snapIndex > 0 {
		if err := s.MemoryStorage.ApplySnapshot(metadataOnly(snap)); err != nil {
			return fmt.Errorf("storage: load snapshot: %w", err)
		}
	}
	w, st, ok, err := openWAL(walFile, s.open)
	if err != nil {
		return err
	}
	if !ok {
		// A new member, or a bbolt file from before the log file: its
		// log moves over (the bbolt copy is dropped only once the new
		// file is durable; until then a crash redoes the move).
		if w, err = createWAL(walFile, legacyHS, legacyEnts, s.seal); err != nil {
			return err
		}
		st = walState{hs: legacyHS, ents: legacyEnts}
	}
	s.wal = w
	if legacyHS != nil || len(legacyEnts) > 0 {
		if err := s.dropLegacyLog(); err != nil {
			return err
		}
	}
	ents, err := connect(st.ents, snapIndex, snapTerm)
	if err != nil {
		return err
	}
	if hs := st.hs; hs != nil {
		// A snapshot is committed by definition; its bbolt write comes
		// before the log's HardState, so a crash between them leaves an
		// older commit index here.
		if hs.GetCommit() < snapIndex {
			hs = proto.CloneOf(hs)
			hs.Commit = proto.Uint64(snapIndex)
		}
		last := snapIndex
		if len(ents) > 0 {
			last = ents[len(ents)-1].GetIndex()
		}
		if hs.GetCommit() > last {
			return fmt.Errorf("%w: commit index %d beyond the last entry %d", ErrCorrupt, hs.GetCommit(), last)
		}
		if err := s.MemoryStorage.SetHardState(hs); err != nil {
			return err
		}
		s.lastHS = st.hs
	}
	if err := s.MemoryStorage.Append(ents); err != nil {
		return fmt.Errorf("storage: load entries: %w", err)
	}
	return nil
}

// connect returns the entries of the log that follow the snapshot at
// (index, term). Entries the snapshot covers are dropped; the rest are kept
// when they continue it: the log holds the snapshot's own entry with its
// term, or starts right after it. A log whose entry at the snapshot's index
// has another term was superseded by that snapshot (received from the
// leader; the crash came before the log's reset record) and is dropped.
func connect(ents []*pb.Entry, index, term uint64) ([]*pb.Entry, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	first, last := ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
	switch {
	case first > index+1 && index == 0:
		return nil, fmt.Errorf("%w: log starts at %d without a snapshot", ErrCorrupt, first)
	case first > index+1:
		return nil, fmt.Errorf("%w: log gap: want entry %d, log starts at %d", ErrCorrupt, index+1, first)
	case last <= index:
		return nil, nil
	case first == index+1:
		return ents, nil
	}
	if ents[index-first].GetTerm() != term {
		return nil, nil
	}
	return ents[index-first+1:], nil
}

func readLegacyHardState(tx *bolt.Tx) (*pb.HardState, error) {
	v := tx.Bucket(bucketState).Get(keyHardState)
	if v == nil {
		return nil, nil
	}
	hs := &pb.HardState{}
	if err := proto.Unmarshal(v, hs); err != nil {
		return nil, fmt.Errorf("%w: hard state: %v", ErrCorrupt, err)
	}
	return hs, nil
}

// readLegacyEntries reads the entries after snapIndex that a bbolt file
// from before the log file holds.
func (s *Storage) readLegacyEntries(tx *bolt.Tx, snapIndex uint64) ([]*pb.Entry, error) {
	var ents []*pb.Entry
	c := tx.Bucket(bucketEntries).Cursor()
	next := snapIndex + 1
	for k, v := c.Seek(indexKey(next)); k != nil; k, v = c.Next() {
		idx := binary.BigEndian.Uint64(k)
		e := &pb.Entry{}
		plain, err := s.open(v)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrCorrupt, idx, err)
		}
		if err := proto.Unmarshal(plain, e); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, idx, err)
		}
		if idx != next || e.GetIndex() != idx {
			if len(ents) == 0 && snapIndex == 0 && idx > next {
				return nil, fmt.Errorf("%w: log starts at %d without a snapshot", ErrCorrupt, idx)
			}
			return nil, fmt.Errorf("%w: log gap: want entry %d, found %d", ErrCorrupt, next, idx)
		}
		ents = append(ents, e)
		next++
	}
	return ents, nil
}

// dropLegacyLog deletes the entries and HardState a bbolt file from
// before the log file held, once the log file holds them.
func (s *Storage) dropLegacyLog() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := deleteFrom(tx.Bucket(bucketEntries), 0); err != nil {
			return err
		}
		return tx.Bucket(bucketState).Delete(keyHardState)
	})
	if err != nil {
		return fmt.Errorf("storage: drop the bbolt log: %w", err)
	}
	return nil
}

func indexKey(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

// Append persists a snapshot received from the leader (if not empty; it
// replaces the whole log), the new entries (they replace any stored entries
// at the same or later indexes) and the HardState (if not empty); then it
// updates the in-memory view. Call it with a Ready's Snapshot, Entries and
// HardState before sending the messages that vote on them.
//
// The snapshot goes to bbolt (its own fsynced transaction) first; then
// the entries and the HardState go to the log file in one write and one
// fdatasync. A HardState whose commit index alone moved is written without
// fdatasync (raft.MustSync: a commit index found older after a crash is
// learnt again from the leader); the next fdatasync covers it.
func (s *Storage) Append(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot) error {
	hasSnap := snap != nil && !etcdraft.IsEmptySnap(snap)
	hasHS := hs != nil && !etcdraft.IsEmptyHardState(hs)
	if !hasSnap && !hasHS && len(ents) == 0 {
		return nil
	}
	if hasSnap {
		s.snapMu.Lock() // until the in-memory view has it too
		defer s.snapMu.Unlock()
		if err := s.db.Update(func(tx *bolt.Tx) error { return s.writeSnapshot(tx, snap) }); err != nil {
			return fmt.Errorf("storage: append snapshot: %w", err)
		}
		s.wal.buf = appendRecord(s.wal.buf, recReset, nil)
	}
	for _, e := range ents {
		v, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("storage: append: %w", err)
		}
		if v, err = s.seal(v); err != nil {
			return fmt.Errorf("storage: append: %w", err)
		}
		s.wal.buf = appendRecord(s.wal.buf, recEntry, v)
	}
	if hasHS {
		v, err := proto.Marshal(hs)
		if err != nil {
			return fmt.Errorf("storage: append: %w", err)
		}
		s.wal.buf = appendRecord(s.wal.buf, recHardState, v)
	}
	sync := hasSnap || len(ents) > 0 || hasHS && !s.commitOnly(hs)
	if err := s.wal.append(sync); err != nil {
		s.wal.buf = s.wal.buf[:0]
		return err
	}
	if hasSnap {
		if err := s.MemoryStorage.ApplySnapshot(metadataOnly(snap)); err != nil && !errors.Is(err, etcdraft.ErrSnapOutOfDate) {
			return fmt.Errorf("storage: apply snapshot: %w", err)
		}
	}
	if err := s.MemoryStorage.Append(ents); err != nil {
		return fmt.Errorf("storage: append: %w", err)
	}
	if hasHS {
		s.lastHS = proto.CloneOf(hs)
		if err := s.MemoryStorage.SetHardState(hs); err != nil {
			return err
		}
	}
	return nil
}

// commitOnly reports whether hs differs from the HardState last written
// only in its commit index.
func (s *Storage) commitOnly(hs *pb.HardState) bool {
	d := s.lastHS
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
// not compact the log; call Compact. It may run beside Append (not beside
// Compact); a snapshot not newer than the latest fails with
// raft.ErrSnapOutOfDate.
func (s *Storage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if cur, _ := s.MemoryStorage.Snapshot(); cur.GetMetadata().GetIndex() >= i {
		return nil, fmt.Errorf("storage: snapshot at %d: %w", i, etcdraft.ErrSnapOutOfDate)
	}
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
	if _, err := s.MemoryStorage.CreateSnapshot(i, cs, nil); err != nil {
		return nil, fmt.Errorf("storage: snapshot at %d: %w", i, err)
	}
	return snap, nil
}

// Snapshot returns the latest snapshot. Its data is read from the bbolt
// file: the in-memory view keeps only the snapshot's metadata, because the
// data (the whole store, tens of MiB at 100k tasks) is needed only at
// start and when a lagging follower must be sent a snapshot, while keeping
// it would hold it on the heap for as long as the snapshot is the latest
// (and MemoryStorage clones it on every read).
func (s *Storage) Snapshot() (*pb.Snapshot, error) {
	mem, err := s.MemoryStorage.Snapshot()
	if err != nil || mem.GetMetadata().GetIndex() == 0 {
		return mem, err
	}
	var snap *pb.Snapshot
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		snap, err = readSnapshot(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The file may be ahead of the in-memory view while CreateSnapshot
	// runs (it writes the file first): its snapshot is as good, and newer.
	if snap.GetMetadata().GetIndex() < mem.GetMetadata().GetIndex() {
		return nil, fmt.Errorf("%w: snapshot at %d in the file, %d in memory", ErrCorrupt, snap.GetMetadata().GetIndex(), mem.GetMetadata().GetIndex())
	}
	if len(snap.Data) > 0 {
		if snap.Data, err = s.open(snap.Data); err != nil {
			return nil, fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
		}
	}
	return snap, nil
}

// metadataOnly is snap without its data, for the in-memory view.
func metadataOnly(snap *pb.Snapshot) *pb.Snapshot {
	return &pb.Snapshot{Metadata: snap.GetMetadata()}
}

// Compact discards the entries before index i (which must be <= the last
// snapshot's index) from memory. The log file keeps them until it has
// grown to twice its size after its last rewrite (and at least 64 MiB):
// then the entries still live and the HardState are written to a new file
// that replaces it.
func (s *Storage) Compact(i uint64) error {
	if err := s.MemoryStorage.Compact(i); err != nil {
		return fmt.Errorf("storage: compact %d: %w", i, err)
	}
	if s.wal.size < max(s.rewriteMin, 2*s.wal.rewritten) {
		return nil
	}
	return s.rewrite()
}

// rewrite replaces the log file with one holding only the live entries and
// the HardState.
func (s *Storage) rewrite() error {
	first, _ := s.MemoryStorage.FirstIndex()
	last, _ := s.MemoryStorage.LastIndex()
	var ents []*pb.Entry
	if last >= first {
		var err error
		if ents, err = s.MemoryStorage.Entries(first, last+1, math.MaxUint64); err != nil {
			return fmt.Errorf("storage: rewrite log: %w", err)
		}
	}
	hs, _, err := s.MemoryStorage.InitialState()
	if err != nil {
		return fmt.Errorf("storage: rewrite log: %w", err)
	}
	if etcdraft.IsEmptyHardState(hs) {
		hs = nil
	}
	w, err := createWAL(s.wal.path, hs, ents, s.seal)
	if err != nil {
		return err
	}
	old := s.wal
	s.wal = w
	_ = old.f.Close() // renamed over: nothing more to flush
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
