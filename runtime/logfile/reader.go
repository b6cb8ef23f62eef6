package logfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// reader reads records from one file, keeping a partial trailing line until
// its newline arrives.
type reader struct {
	f       *os.File
	partial []byte
	buf     []byte
}

func openReader(path string) (*reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &reader{f: f, buf: make([]byte, 32<<10)}, nil
}

// readAvailable reads what the file holds now and calls fn for every complete
// record. Lines that are not records are skipped.
func (r *reader) readAvailable(fn func(runtime.LogLine) error) error {
	for {
		n, err := r.f.Read(r.buf)
		if n > 0 {
			data := append(r.partial, r.buf[:n]...)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				if ll, ok := ParseRecord(data[:i]); ok {
					if ferr := fn(ll); ferr != nil {
						r.partial = append(r.partial[:0:0], data[i+1:]...)
						return ferr
					}
				}
				data = data[i+1:]
			}
			r.partial = append(r.partial[:0:0], data...)
		}
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// sameFile reports whether path still names the file r reads.
func (r *reader) sameFile(path string) bool {
	a, err := r.f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(a, b)
}

func (r *reader) Close() error { return r.f.Close() }

func dirExists(dir string) bool {
	_, err := os.Stat(dir)
	return err == nil
}

// Stream sends the records of set to out, as Controller.Logs does: history
// first (old files oldest first, then the current file; opts.Tail -1 all,
// 0 none, n the last n; opts.Since filters by record time), then, with
// opts.Follow, new records as they are written, across rotations, polling
// every poll.
//
// Following ends with nil once exited reports true and everything written
// until then was sent: exited is sampled before each read, so it must only
// report true once the writer has written everything (for a writer in another
// process, once it has flushed). It also ends with nil when set.Dir vanishes,
// and with ctx.Err() when ctx ends. A missing set.Dir at the start is
// runtime.ErrNotFound.
func Stream(ctx context.Context, set Set, opts runtime.LogOptions, out chan<- runtime.LogLine, exited func() bool, poll time.Duration) error {
	if !dirExists(set.Dir) {
		return runtime.ErrNotFound
	}

	// History, keeping at most Tail lines in a ring.
	var ring []runtime.LogLine
	collect := func(ll runtime.LogLine) error {
		if !opts.Keeps(ll.Time) || opts.Tail == 0 {
			return nil
		}
		if opts.Tail > 0 && len(ring) == opts.Tail {
			copy(ring, ring[1:])
			ring = ring[:len(ring)-1]
		}
		ring = append(ring, ll)
		return nil
	}
	f := &follower{set: set}
	defer f.close()
	if err := f.readNow(collect); err != nil {
		return err
	}
	for _, ll := range ring {
		if err := runtime.SendLine(ctx, out, ll); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}

	forward := func(ll runtime.LogLine) error {
		if !opts.Keeps(ll.Time) {
			return nil
		}
		return runtime.SendLine(ctx, out, ll)
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		done := exited() // sampled before the read, so nothing written before exit is missed
		if err := f.readNow(forward); err != nil {
			return err
		}
		if done {
			return nil
		}
		if !dirExists(set.Dir) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// follower reads a Set from its oldest file on, going from each file to the
// one written after it, whatever the rotations meanwhile.
type follower struct {
	set  Set
	cur  *reader // the file being read
	prev *reader // a rotated, fully read file whose successor is not open yet
}

// readNow calls fn for every record written so far that was not read yet.
func (f *follower) readNow(fn func(runtime.LogLine) error) error {
	for {
		if f.cur == nil {
			switch {
			case f.prev != nil:
				f.cur = successor(f.set, f.prev)
				if f.cur == nil {
					return nil // not created yet
				}
				f.prev.Close()
				f.prev = nil
			default:
				r, err := openOldest(f.set)
				if err != nil || r == nil {
					return err
				}
				f.cur = r
			}
		}
		if err := f.cur.readAvailable(fn); err != nil {
			return err
		}
		if f.cur.sameFile(f.set.Path(0)) {
			return nil
		}
		// Rotated (or an old file): the writer closed it before renaming it, so
		// it is complete; finish it and go on with its successor.
		if err := f.cur.readAvailable(fn); err != nil {
			return err
		}
		f.prev, f.cur = f.cur, nil
	}
}

func (f *follower) close() {
	for _, r := range []*reader{f.cur, f.prev} {
		if r != nil {
			r.Close()
		}
	}
}

// searchDepth is how far past Keep old files are looked for, in case the
// writer keeps more than the reader was told.
const searchDepth = 4

// position is the n >= 1 of the old file of set that r reads, or -1.
func position(set Set, r *reader) int {
	a, err := r.f.Stat()
	if err != nil {
		return -1
	}
	for n := 1; n <= set.Keep+searchDepth; n++ {
		if b, err := os.Stat(set.Path(n)); err == nil && os.SameFile(a, b) {
			return n
		}
	}
	return -1
}

// successor opens the file of set written right after the rotated file r, or
// returns nil when it is the current file and that is not created yet.
//
// Rotation renames from the oldest down (n -> n+1, ..., 0 -> 1), then creates
// the current file. So if r is still at n after Path(n-1) was opened, what was
// opened is r's successor; a missing Path(n-1), n-1 >= 1, is a rotation
// half-way through.
func successor(set Set, r *reader) *reader {
	for try := range 100 {
		if try > 0 {
			time.Sleep(time.Millisecond)
		}
		n := position(set, r)
		if n < 0 {
			// r was dropped (or removed, Keep 0): every file left is newer than
			// it; go on with the oldest (some were lost if several were dropped).
			next, _ := openOldest(set)
			return next
		}
		next, err := openReader(set.Path(n - 1))
		if position(set, r) != n {
			if next != nil {
				next.Close()
			}
			continue
		}
		if err == nil {
			return next
		}
		if n == 1 {
			return nil
		}
	}
	return nil
}

// openOldest opens the oldest file of set, or returns nil when there is none.
func openOldest(set Set) (*reader, error) {
	for n := set.Keep + searchDepth; n >= 0; n-- {
		r, err := openReader(set.Path(n))
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, nil
}
