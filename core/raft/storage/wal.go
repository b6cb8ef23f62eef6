package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The log file (wal) holds the entries and the HardState as a sequence of
// records, each
//
//	length uint32 (of kind + payload) | crc32c uint32 (of kind + payload) | kind byte | payload
//
// all integers big-endian. Kinds: an entry (a marshalled raftpb.Entry,
// sealed by the Cipher if any), a HardState (marshalled, not sealed, like
// the one bbolt held before) and a reset (a snapshot from the leader
// replaced the whole log; no payload).
//
// Appending is one write and, when raft needs it, one fdatasync. Replaying
// applies the records in order: an entry at index i drops every entry at i
// or later before it is added (a new leader overwrote the tail), a
// HardState replaces the previous one, a reset drops every entry. A record
// cut short or whose checksum does not match ends the log: only the tail
// written after the last fdatasync can be torn by a crash, so it is cut off
// (truncated) and nothing acknowledged is lost, since nothing was
// acknowledged before its fdatasync returned.
//
// Compact rewrites the file once it has grown to twice its size after the
// previous rewrite (at least walRewriteMin): the live entries and the
// HardState go to a new file, fsynced, that replaces the old one by rename.
const (
	recEntry     byte = 1
	recHardState byte = 2
	recReset     byte = 3

	recHeader = 9 // length, crc, kind

	// walRewriteMin is the size below which the log file is never
	// rewritten on Compact.
	walRewriteMin = 64 << 20
	// walChunk is how far the file is extended with zeros at a time.
	walChunk = 4 << 20
	// maxRecord bounds one record's length: a larger length is a torn or
	// corrupt header, not a record.
	maxRecord = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// wal is the open log file.
type wal struct {
	path  string
	f     *os.File
	size  int64 // bytes of valid records
	alloc int64 // bytes of the file (records, then written zeros)
	// rewritten is the file's size right after it was last written whole.
	rewritten int64
	buf       []byte
}

// walState is what a replay found.
type walState struct {
	hs   *pb.HardState
	ents []*pb.Entry // consecutive; may start anywhere
}

func appendRecord(buf []byte, kind byte, payload []byte) []byte {
	var h [recHeader]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(1+len(payload)))
	c := crc32.Update(0, crcTable, []byte{kind})
	c = crc32.Update(c, crcTable, payload)
	binary.BigEndian.PutUint32(h[4:8], c)
	h[8] = kind
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

// walPath is the log file next to the bbolt file at dbPath.
func walPath(dbPath string) string {
	ext := filepath.Ext(dbPath)
	return dbPath[:len(dbPath)-len(ext)] + ".wal"
}

// openWAL opens the log file at path, replays it (open unseals entries)
// and truncates a torn tail. ok is false when there is no file yet.
func openWAL(path string, open func([]byte) ([]byte, error)) (w *wal, st walState, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, walState{}, false, nil
	}
	if err != nil {
		return nil, walState{}, false, fmt.Errorf("storage: open log: %w", err)
	}
	st, size, err := replay(f, open)
	if err != nil {
		_ = f.Close()
		return nil, walState{}, false, err
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		return nil, walState{}, false, fmt.Errorf("storage: truncate torn log tail: %w", err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, walState{}, false, fmt.Errorf("storage: log: %w", err)
	}
	return &wal{path: path, f: f, size: size, alloc: size, rewritten: size}, st, true, nil
}

// replay reads the records of f from its start; size is the length of the
// valid ones.
func replay(f *os.File, open func([]byte) ([]byte, error)) (st walState, size int64, err error) {
	r := bufio.NewReaderSize(f, 1<<20)
	var h [recHeader]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return st, size, nil // end, or a torn header
		}
		n := binary.BigEndian.Uint32(h[0:4])
		if n == 0 || n > maxRecord {
			return st, size, nil
		}
		payload = payload[:0]
		if cap(payload) < int(n-1) {
			payload = make([]byte, n-1)
		}
		payload = payload[:n-1]
		if _, err := io.ReadFull(r, payload); err != nil {
			return st, size, nil // torn record
		}
		c := crc32.Update(0, crcTable, h[8:9])
		if crc32.Update(c, crcTable, payload) != binary.BigEndian.Uint32(h[4:8]) {
			return st, size, nil // torn record
		}
		switch h[8] {
		case recEntry:
			plain, err := open(payload)
			if err != nil {
				return st, 0, fmt.Errorf("%w: log entry at offset %d: %w", ErrCorrupt, size, err)
			}
			e := &pb.Entry{}
			if err := proto.Unmarshal(plain, e); err != nil {
				return st, 0, fmt.Errorf("%w: log entry at offset %d: %v", ErrCorrupt, size, err)
			}
			if err := st.add(e); err != nil {
				return st, 0, err
			}
		case recHardState:
			hs := &pb.HardState{}
			if err := proto.Unmarshal(payload, hs); err != nil {
				return st, 0, fmt.Errorf("%w: log hard state at offset %d: %v", ErrCorrupt, size, err)
			}
			st.hs = hs
		case recReset:
			st.ents = nil
		default:
			return st, 0, fmt.Errorf("%w: log record kind %d at offset %d", ErrCorrupt, h[8], size)
		}
		size += recHeader + int64(n-1)
	}
}

// add appends e, dropping the entries at its index and later first.
func (st *walState) add(e *pb.Entry) error {
	i := e.GetIndex()
	if len(st.ents) == 0 {
		st.ents = append(st.ents, e)
		return nil
	}
	first := st.ents[0].GetIndex()
	last := st.ents[len(st.ents)-1].GetIndex()
	switch {
	case i > last+1:
		return fmt.Errorf("%w: log gap: entry %d after %d", ErrCorrupt, i, last)
	case i <= first:
		st.ents = append(st.ents[:0], e)
	default:
		st.ents = append(st.ents[:i-first], e)
	}
	return nil
}

// createWAL writes a new log file at path holding hs and ents (sealed by
// seal), fsyncs it and its directory, and opens it: written whole beside
// the old file, then renamed over it, so a crash leaves one or the other.
func createWAL(path string, hs *pb.HardState, ents []*pb.Entry, seal func([]byte) ([]byte, error)) (*wal, error) {
	var buf []byte
	for _, e := range ents {
		v, err := proto.Marshal(e)
		if err != nil {
			return nil, err
		}
		if v, err = seal(v); err != nil {
			return nil, err
		}
		buf = appendRecord(buf, recEntry, v)
	}
	if hs != nil {
		v, err := proto.Marshal(hs)
		if err != nil {
			return nil, err
		}
		buf = appendRecord(buf, recHardState, v)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: create log: %w", err)
	}
	if _, err := f.Write(buf); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("storage: write log: %w", err)
	}
	size := int64(len(buf))
	return &wal{path: path, f: f, size: size, alloc: size, rewritten: size}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// append writes the records already built in w.buf with one write at the
// end of the valid records, then fdatasyncs when sync is set. The records
// land on zeros written beforehand (preallocate), so the file's size does
// not change and fdatasync flushes the data alone, without a journal
// commit for the new size: the cost of an in-place 4 KiB write, not of an
// append.
func (w *wal) append(sync bool) error {
	if len(w.buf) == 0 && !sync {
		return nil
	}
	if err := w.preallocate(w.size + int64(len(w.buf))); err != nil {
		return err
	}
	if _, err := w.f.WriteAt(w.buf, w.size); err != nil {
		// A partial write is a torn record: a later record must not
		// follow it, so the next append starts at the same place (the
		// zeros it overwrites mark the end of the log).
		return fmt.Errorf("storage: log write: %w", err)
	}
	w.size += int64(len(w.buf))
	w.buf = w.buf[:0]
	if sync {
		if err := fdatasync(w.f); err != nil {
			return fmt.Errorf("storage: log fdatasync: %w", err)
		}
	}
	return nil
}

// preallocate makes sure the file holds written zeros up to at least
// end, extending it by walChunk (or more) at a time and syncing the new
// size. A zero length ends the log on replay, so the zeros read as its end.
func (w *wal) preallocate(end int64) error {
	if end <= w.alloc {
		return nil
	}
	from := w.alloc
	to := from + max(walChunk, end-from)
	zeros := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), to-off)
		if _, err := w.f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("storage: log preallocate: %w", err)
		}
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("storage: log preallocate: %w", err)
	}
	w.alloc = to
	return nil
}

func (w *wal) close() error {
	err := fdatasync(w.f)
	return errors.Join(err, w.f.Close())
}

// ReadLog reads the log file of the Raft member whose bbolt file is at
// dbPath as Open would load it (c opens sealed entries; nil for none),
// without changing it: the last HardState and the entries, a torn tail left
// out. It may run while the member writes; it then sees a prefix of the
// records. For tests and inspection tools.
func ReadLog(dbPath string, c Cipher) (*pb.HardState, []*pb.Entry, error) {
	f, err := os.Open(walPath(dbPath))
	if err != nil {
		return nil, nil, fmt.Errorf("storage: open log: %w", err)
	}
	defer f.Close()
	open := func(v []byte) ([]byte, error) { return v, nil }
	if c != nil {
		open = c.Open
	}
	st, _, err := replay(f, open)
	return st.hs, st.ents, err
}
