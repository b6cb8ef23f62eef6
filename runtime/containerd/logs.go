package containerd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// Task output is written by the containerd shim itself into <StateDir>/tasks/<id>/task.log
// (cio.LogFile: the shim opens the file in append mode), so it keeps being written while
// the agent is down. The shim merges stdout and stderr into that one file and records no
// timestamps, so LogLine.Stream is always "stdout" and LogLine.Time is the time the line was read
// (the file's modification time for lines already on disk).
//
// Rotation is copy-then-truncate by the backend's rotation goroutine: task.log is
// copied to task.log.1 and truncated; the shim's O_APPEND writes continue at the new end.

const rotateEvery = 2 * time.Second

func (b *Backend) rotateLogs(ctx context.Context) {
	t := time.NewTicker(rotateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		paths, _ := filepath.Glob(filepath.Join(b.cfg.StateDir, "tasks", "*", "task.log"))
		for _, p := range paths {
			if err := rotateIfLarge(p, b.cfg.LogMaxBytes); err != nil {
				b.log.Warn("rotate task log", "path", p, "err", err)
			}
		}
	}
}

func rotateIfLarge(path string, max int64) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() < max {
		return nil
	}
	src, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + ".1.tmp"
	dst, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path+".1"); err != nil {
		return err
	}
	return src.Truncate(0)
}

// splitLines splits data at newlines; a final unterminated line is kept.
func splitLines(data []byte) [][]byte {
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, data)
			break
		}
		lines = append(lines, data[:i])
		data = data[i+1:]
	}
	return lines
}

func readFileIfExists(path string) ([]byte, time.Time, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	data, err := os.ReadFile(path)
	return data, st.ModTime(), err
}

// readLogs implements Controller.Logs for the log file at path.
func readLogs(ctx context.Context, path string, opts runtime.LogOptions, out chan<- runtime.LogLine, done func() bool) error {
	old, oldTime, err := readFileIfExists(path + ".1")
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !opts.Follow {
		f = nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var cur []byte
	var curTime time.Time
	if f != nil {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		curTime = st.ModTime()
		cur, err = io.ReadAll(f)
		if err != nil {
			return err
		}
	}
	type line struct {
		t    time.Time
		data []byte
	}
	var lines []line
	if opts.Keeps(oldTime) {
		for _, l := range splitLines(old) {
			lines = append(lines, line{oldTime, l})
		}
	}
	// An unterminated last line is held back when following, to be completed later.
	offset := int64(len(cur))
	if opts.Follow && len(cur) > 0 && cur[len(cur)-1] != '\n' {
		i := bytes.LastIndexByte(cur, '\n')
		offset = int64(i + 1)
		cur = cur[:i+1]
	}
	if opts.Keeps(curTime) {
		for _, l := range splitLines(cur) {
			lines = append(lines, line{curTime, l})
		}
	}
	if opts.Tail >= 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	for _, l := range lines {
		if err := runtime.SendLine(ctx, out, runtime.LogLine{Time: l.t, Stream: "stdout", Data: append([]byte(nil), l.data...)}); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	return follow(ctx, path, f, offset, out, done)
}

// follow polls path from offset, sending complete lines until ctx ends or done()
// reports the task finished and everything was read.
func follow(ctx context.Context, path string, f *os.File, offset int64, out chan<- runtime.LogLine, done func() bool) error {
	var pending []byte
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		finished := done()
		if f == nil {
			var err error
			f, err = os.Open(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if f != nil {
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if st.Size() < offset { // rotated: finish the copy, then start over
				if rest, _, err := readFileIfExists(path + ".1"); err == nil && int64(len(rest)) > offset {
					pending = append(pending, rest[offset:]...)
				}
				offset = 0
			}
			if st.Size() > offset {
				buf := make([]byte, st.Size()-offset)
				n, err := f.ReadAt(buf, offset)
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				offset += int64(n)
				pending = append(pending, buf[:n]...)
			}
		}
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			if err := runtime.SendLine(ctx, out, runtime.LogLine{Time: time.Now(), Stream: "stdout", Data: append([]byte(nil), pending[:i]...)}); err != nil {
				return err
			}
			pending = pending[i+1:]
		}
		if finished {
			if len(pending) > 0 {
				return runtime.SendLine(ctx, out, runtime.LogLine{Time: time.Now(), Stream: "stdout", Data: pending})
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
