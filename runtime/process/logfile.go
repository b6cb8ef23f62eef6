package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// One record per line in output.log:
//
//	2006-01-02T15:04:05.000000000Z stdout <data>\n
//
// Data never holds '\n': the shim splits output on newlines and cuts lines
// longer than maxLineBytes into several records.
const (
	logTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"
	maxLineBytes  = 16 << 10
)

func appendRecord(buf []byte, t time.Time, stream string, data []byte) []byte {
	buf = t.UTC().AppendFormat(buf, logTimeLayout)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	buf = append(buf, data...)
	return append(buf, '\n')
}

// parseRecord decodes one line (without its '\n').
func parseRecord(line []byte) (runtime.LogLine, bool) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return runtime.LogLine{}, false
	}
	stream, data, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return runtime.LogLine{}, false
	}
	t, err := time.Parse(logTimeLayout, string(ts))
	if err != nil {
		return runtime.LogLine{}, false
	}
	return runtime.LogLine{Time: t, Stream: string(stream), Data: bytes.Clone(data)}, true
}

func rotatedName(dir string, n int) string {
	if n == 0 {
		return filepath.Join(dir, fileOutput)
	}
	return filepath.Join(dir, fileOutput+"."+strconv.Itoa(n))
}

// logWriter appends records to output.log and rotates it when it passes
// maxBytes, keeping `keep` old files (output.log.1 is the newest old one).
// It is used by the shim only.
type logWriter struct {
	mu       sync.Mutex
	dir      string
	maxBytes int64
	keep     int
	f        *os.File
	size     int64
	buf      []byte
	now      func() time.Time
}

func openLogWriter(dir string, maxBytes int64, keep int) (*logWriter, error) {
	w := &logWriter{dir: dir, maxBytes: maxBytes, keep: keep, now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *logWriter) open() error {
	f, err := os.OpenFile(rotatedName(w.dir, 0), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
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

func (w *logWriter) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.keep <= 0 {
		if err := os.Remove(rotatedName(w.dir, 0)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return w.open()
	}
	for n := w.keep; n >= 1; n-- {
		err := os.Rename(rotatedName(w.dir, n-1), rotatedName(w.dir, n))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return w.open()
}

func (w *logWriter) writeRecord(stream string, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = appendRecord(w.buf[:0], w.now(), stream, data)
	if w.maxBytes > 0 && w.size > 0 && w.size+int64(len(w.buf)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	return err
}

func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// copyLines reads r until EOF and writes one record per line.
func (w *logWriter) copyLines(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte{'\n'})
			if werr := w.writeRecord(stream, line); werr != nil {
				fmt.Fprintf(os.Stderr, "shim: write log: %v\n", werr)
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// logReader reads records from one file, keeping a partial trailing line
// until its newline arrives.
type logReader struct {
	f       *os.File
	partial []byte
	buf     []byte
}

func openLogReader(path string) (*logReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &logReader{f: f, buf: make([]byte, 32<<10)}, nil
}

// readAvailable reads what the file holds now and calls fn for every complete record.
func (r *logReader) readAvailable(fn func(runtime.LogLine) error) error {
	for {
		n, err := r.f.Read(r.buf)
		if n > 0 {
			data := append(r.partial, r.buf[:n]...)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				if ll, ok := parseRecord(data[:i]); ok {
					if ferr := fn(ll); ferr != nil {
						r.partial = append(r.partial[:0], data[i+1:]...)
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
func (r *logReader) sameFile(path string) bool {
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

func (r *logReader) Close() error { return r.f.Close() }

// streamLogs implements Controller.Logs for a task dir. exited reports whether
// the task has finished writing output; poll is the follow interval.
func streamLogs(ctx context.Context, dir string, keep int, opts runtime.LogOptions, out chan<- runtime.LogLine, exited func() bool, poll time.Duration) error {
	if !exists(dir) {
		return runtime.ErrNotFound
	}

	// History: old files oldest first, then the current file, keeping at most
	// Tail lines in a ring.
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
	for n := max(keep, 2); n >= 1; n-- {
		r, err := openLogReader(rotatedName(dir, n))
		if err != nil {
			continue
		}
		err = r.readAvailable(collect)
		r.Close()
		if err != nil {
			return err
		}
	}
	cur, err := openLogReader(rotatedName(dir, 0))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if cur != nil {
		defer func() { cur.Close() }()
		if err := cur.readAvailable(collect); err != nil {
			return err
		}
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
		if cur == nil {
			r, err := openLogReader(rotatedName(dir, 0))
			if err == nil {
				cur = r
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if cur != nil {
			if err := cur.readAvailable(forward); err != nil {
				return err
			}
			if !cur.sameFile(rotatedName(dir, 0)) {
				// Rotated: the old file is complete once renamed; drain it and switch.
				if err := cur.readAvailable(forward); err != nil {
					return err
				}
				cur.Close()
				cur = nil
				continue
			}
		}
		if done {
			return nil
		}
		if !exists(dir) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// errno helpers shared by the shim and the backend.
func isESRCH(err error) bool { return errors.Is(err, syscall.ESRCH) }
