package logfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Set names a rotated log: the current file Dir/Name and the old files
// Name.1 (newest) ... Name.Keep.
type Set struct {
	Dir  string
	Name string
	Keep int
}

// Path is the n-th file of the set: 0 the current one, n >= 1 the old ones.
func (s Set) Path(n int) string {
	if n == 0 {
		return filepath.Join(s.Dir, s.Name)
	}
	return filepath.Join(s.Dir, s.Name+"."+strconv.Itoa(n))
}

// Writer appends records to a Set's current file and rotates it once a record
// would take it past maxBytes. It is safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	set      Set
	maxBytes int64
	now      func() time.Time
	f        *os.File
	size     int64
	buf      []byte
}

// OpenWriter opens (appending to) the set's current file. maxBytes <= 0 never
// rotates; now stamps records (nil: time.Now).
func OpenWriter(set Set, maxBytes int64, now func() time.Time) (*Writer, error) {
	if now == nil {
		now = time.Now
	}
	w := &Writer{set: set, maxBytes: maxBytes, now: now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.set.Path(0), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, fi.Size()
	return nil
}

func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.set.Keep <= 0 {
		if err := os.Remove(w.set.Path(0)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return w.open()
	}
	for n := w.set.Keep; n >= 1; n-- {
		err := os.Rename(w.set.Path(n-1), w.set.Path(n))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return w.open()
}

// WriteRecord appends one record stamped now. data must not hold '\n'.
func (w *Writer) WriteRecord(stream string, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = AppendRecord(w.buf[:0], w.now(), stream, data)
	if w.maxBytes > 0 && w.size > 0 && w.size+int64(len(w.buf)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	return err
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Lines returns an io.Writer for one stream that turns what is written to it
// into records: one per line, lines longer than MaxLineBytes cut. A trailing
// partial line is held until its newline arrives or Flush is called.
func (w *Writer) Lines(stream string) *Lines {
	return &Lines{w: w, stream: stream}
}

// CopyLines copies r into records of stream until EOF or a read error, then
// writes a final partial line. It returns the first write error (reading goes
// on after one, so the producer is never blocked by a full disk).
func (w *Writer) CopyLines(stream string, r io.Reader) error {
	l := w.Lines(stream)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			l.Write(buf[:n]) // errors are kept in l
		}
		if err != nil {
			break
		}
	}
	return l.Flush()
}

// Lines is the io.Writer of one stream of a Writer (see Writer.Lines). It is
// not safe for concurrent use; different streams' Lines are.
type Lines struct {
	w       *Writer
	stream  string
	partial []byte
	err     error // first write error
}

// Write consumes all of p and returns len(p) with the first error a record
// write has met so far (records after an error are still attempted).
func (l *Lines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			for len(l.partial) > MaxLineBytes {
				l.emit(l.partial[:MaxLineBytes])
				l.partial = append(l.partial[:0], l.partial[MaxLineBytes:]...)
			}
			break
		}
		line := p[:i]
		if len(l.partial) > 0 {
			l.partial = append(l.partial, line...)
			line = l.partial
		}
		for len(line) > MaxLineBytes {
			l.emit(line[:MaxLineBytes])
			line = line[MaxLineBytes:]
		}
		l.emit(line)
		l.partial = l.partial[:0]
		p = p[i+1:]
	}
	return n, l.err
}

// Flush writes the partial line held, if any, as a record.
func (l *Lines) Flush() error {
	if len(l.partial) > 0 {
		l.emit(l.partial)
		l.partial = l.partial[:0]
	}
	return l.err
}

func (l *Lines) emit(data []byte) {
	if err := l.w.WriteRecord(l.stream, data); err != nil && l.err == nil {
		l.err = err
	}
}
