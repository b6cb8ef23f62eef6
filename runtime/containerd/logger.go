package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/runtime/logfile"
)

// Task output goes through containerd's binary logging: the task is created with
// cio.BinaryIO(<this executable>, args), so the containerd shim starts this binary as
// the task's logger (MaybeRunLogger) with
//
//	fd 3: the read end of the task's stdout pipe
//	fd 4: the read end of the task's stderr pipe
//	fd 5: the write end of a "ready" pipe; the shim creates the task once it is closed
//
// the args as "key value" pairs in any order, and CONTAINER_ID and CONTAINER_NAMESPACE
// as its only environment. The logger is the shim's child, not the agent's, so the
// task's output keeps being recorded while the agent is down. When the task is
// deleted the shim closes its ends of the pipes, sends SIGTERM and waits up to 12 s
// for the logger to exit.
//
// The shim keeps the write ends of the pipes open until the task is deleted, so the
// logger does not see EOF when the task exits. A reader that needs everything an
// exited task wrote asks the logger to drain (drainLogger): it writes a token to the
// logger's sync FIFO; the logger reads both pipes until they are empty, writes the
// held partial lines, and creates drained.<token>.

// Argument keys of the logging binary (query parameters of the binary:// URI).
const (
	loggerArgDir      = "shoal-task-log-dir"
	loggerArgMaxBytes = "shoal-task-log-max-bytes"
	loggerArgKeep     = "shoal-task-log-keep"
)

// Files in a task's state directory.
const (
	logName       = "task.log"    // the current output log; old ones are task.log.N
	loggerSync    = "logger.sync" // FIFO the logger reads drain requests from
	drainedPrefix = "drained."    // drained.<token>: the logger's answer to a drain request
	loggerErrors  = "logger.err"  // what went wrong in the logger, if anything
)

// loggerTermGrace is how long the logger keeps reading after SIGTERM for the pipes
// to reach EOF (the shim kills it after 12 s).
const loggerTermGrace = 5 * time.Second

// loggerConfig is what the logging binary was started with.
type loggerConfig struct {
	set       logfile.Set
	maxBytes  int64
	termGrace time.Duration // loggerTermGrace
}

func loggerArgs(set logfile.Set, maxBytes int64) map[string]string {
	return map[string]string{
		loggerArgDir:      set.Dir,
		loggerArgMaxBytes: strconv.FormatInt(maxBytes, 10),
		loggerArgKeep:     strconv.Itoa(set.Keep),
	}
}

// parseLoggerArgs recognises a logger invocation: CONTAINER_ID set and args made of
// key/value pairs that name the log directory.
func parseLoggerArgs(args []string, getenv func(string) string) (loggerConfig, bool) {
	if getenv("CONTAINER_ID") == "" || len(args) == 0 || len(args)%2 != 0 {
		return loggerConfig{}, false
	}
	kv := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		kv[args[i]] = args[i+1]
	}
	dir := kv[loggerArgDir]
	if dir == "" || !filepath.IsAbs(dir) {
		return loggerConfig{}, false
	}
	cfg := loggerConfig{set: logfile.Set{Dir: dir, Name: logName}, maxBytes: defaultLogMaxBytes, termGrace: loggerTermGrace}
	if v, err := strconv.ParseInt(kv[loggerArgMaxBytes], 10, 64); err == nil && v > 0 {
		cfg.maxBytes = v
	}
	if v, err := strconv.Atoi(kv[loggerArgKeep]); err == nil && v >= 0 {
		cfg.set.Keep = v
	}
	return cfg, true
}

// MaybeRunLogger must be called first thing in main, and in TestMain of every test
// binary that starts containerd tasks through this package (the backend passes its
// own executable to the shim as the logging binary). When the process was started by
// a containerd shim as a task's logger it records the task's output and exits the
// process with os.Exit, never returning. Otherwise it returns at once.
func MaybeRunLogger() {
	cfg, ok := parseLoggerArgs(os.Args[1:], os.Getenv)
	if !ok {
		return
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	os.Exit(runLogger(cfg, 3, 4, os.NewFile(5, "ready"), term))
}

// loggerStream is one of the task's output pipes.
type loggerStream struct {
	fd    int
	lines *logfile.Lines
	open  bool
}

// runLogger records stdout and stderr into cfg.set until both reach EOF (or
// loggerTermGrace after SIGTERM). One goroutine owns the pipes and the writer.
func runLogger(cfg loggerConfig, stdoutFD, stderrFD int, ready io.Closer, term <-chan os.Signal) int {
	failf := func(format string, args ...any) {
		msg := fmt.Sprintf("%s shoal logger: %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
		if f, err := os.OpenFile(filepath.Join(cfg.set.Dir, loggerErrors), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			f.WriteString(msg)
			f.Close()
		}
	}

	var w *logfile.Writer
	err := os.MkdirAll(cfg.set.Dir, 0o700)
	if err == nil {
		w, err = logfile.OpenWriter(cfg.set, cfg.maxBytes, nil)
	}
	if err != nil {
		// Keep the task's writes from failing: read and drop its output.
		failf("open %s: %v; the task's output is dropped", cfg.set.Path(0), err)
		ready.Close()
		go discard(stderrFD)
		discard(stdoutFD)
		return 1
	}
	defer w.Close()

	syncPath := filepath.Join(cfg.set.Dir, loggerSync)
	syncFD := openSyncFIFO(syncPath)
	if syncFD < 0 {
		failf("sync FIFO %s unavailable: readers of an exited task may miss its last lines", syncPath)
	} else {
		defer func() {
			os.Remove(syncPath)
			syscall.Close(syncFD)
		}()
	}
	var wake [2]int
	if err := syscall.Pipe2(wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		failf("pipe: %v", err)
		wake = [2]int{-1, -1}
	} else {
		go func() {
			<-term
			syscall.Write(wake[1], []byte{1})
		}()
	}
	ready.Close() // the shim may create the task now

	streams := []*loggerStream{
		{fd: stdoutFD, lines: w.Lines("stdout"), open: true},
		{fd: stderrFD, lines: w.Lines("stderr"), open: true},
	}
	for _, s := range streams {
		if err := syscall.SetNonblock(s.fd, true); err != nil {
			failf("set non-blocking: %v", err)
		}
	}
	buf := make([]byte, 64<<10)
	var deadline time.Time // set by SIGTERM
	for streams[0].open || streams[1].open {
		timeout := -1
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			timeout = int(left/time.Millisecond) + 1
		}
		var pfds []unix.PollFd
		for _, s := range streams {
			if s.open {
				pfds = append(pfds, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN})
			}
		}
		if syncFD >= 0 {
			pfds = append(pfds, unix.PollFd{Fd: int32(syncFD), Events: unix.POLLIN})
		}
		if wake[0] >= 0 && deadline.IsZero() {
			pfds = append(pfds, unix.PollFd{Fd: int32(wake[0]), Events: unix.POLLIN})
		}
		if _, err := unix.Poll(pfds, timeout); err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			failf("poll: %v", err)
			return 1
		}
		for _, p := range pfds {
			if p.Revents == 0 {
				continue
			}
			switch int(p.Fd) {
			case syncFD:
				for _, token := range readDrainRequests(syncFD) {
					for _, s := range streams {
						s.readAll(buf, failf)
						s.flush(failf)
					}
					f, err := os.OpenFile(filepath.Join(cfg.set.Dir, drainedPrefix+token), os.O_WRONLY|os.O_CREATE, 0o600)
					if err != nil {
						failf("answer drain request: %v", err)
						continue
					}
					f.Close()
				}
			case wake[0]:
				deadline = time.Now().Add(cfg.termGrace)
			default:
				for _, s := range streams {
					if s.open && int32(s.fd) == p.Fd {
						s.readOnce(buf, failf)
					}
				}
			}
		}
	}
	for _, s := range streams {
		s.flush(failf)
	}
	return 0
}

// discard reads fd until EOF.
func discard(fd int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := syscall.Read(fd, buf)
		if n <= 0 && err != syscall.EINTR {
			return
		}
	}
}

// readOnce reads what one read returns; at EOF it writes the partial line and
// closes the stream.
func (s *loggerStream) readOnce(buf []byte, failf func(string, ...any)) (more bool) {
	n, err := syscall.Read(s.fd, buf)
	switch {
	case n > 0:
		if _, werr := s.lines.Write(buf[:n]); werr != nil {
			failf("write log: %v", werr)
		}
		return true
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return false
	default: // EOF or a broken pipe
		s.flush(failf)
		s.open = false
		syscall.Close(s.fd)
		return false
	}
}

// readAll reads until the pipe is empty (or closed).
func (s *loggerStream) readAll(buf []byte, failf func(string, ...any)) {
	for s.open && s.readOnce(buf, failf) {
	}
}

func (s *loggerStream) flush(failf func(string, ...any)) {
	if err := s.lines.Flush(); err != nil {
		failf("write log: %v", err)
	}
}

// openSyncFIFO creates the drain request FIFO afresh and opens it read-write (so the
// logger never sees EOF on it); -1 when that fails.
func openSyncFIFO(path string) int {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return -1
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// readDrainRequests reads the tokens waiting in the sync FIFO. Requests are
// "<token>\n", written whole (shorter than PIPE_BUF, so never interleaved).
func readDrainRequests(fd int) []string {
	var tokens []string
	buf := make([]byte, 4096)
	var pending []byte
	for {
		n, err := syscall.Read(fd, buf)
		if n <= 0 || err != nil {
			break
		}
		pending = append(pending, buf[:n]...)
	}
	for len(pending) > 0 {
		i := 0
		for i < len(pending) && pending[i] != '\n' {
			i++
		}
		if tok := string(pending[:i]); validToken(tok) {
			tokens = append(tokens, tok)
		}
		if i == len(pending) {
			break
		}
		pending = pending[i+1:]
	}
	return tokens
}

func validToken(tok string) bool {
	if len(tok) == 0 || len(tok) > 64 {
		return false
	}
	for _, r := range tok {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// errDrainTimeout is drainLogger's answer when the logger did not answer in time.
var errDrainTimeout = errors.New("containerd: task logger did not drain in time")

// drainLogger asks the logger of the task whose state directory is dir to record
// everything the task wrote (call it once the task has exited) and waits until it
// has. Without a live logger there is nothing to wait for: nil.
func drainLogger(ctx context.Context, dir string, timeout time.Duration) error {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	token := hex.EncodeToString(raw[:])
	sent, err := sendDrainRequest(filepath.Join(dir, loggerSync), token)
	if err != nil || !sent {
		return err
	}
	answer := filepath.Join(dir, drainedPrefix+token)
	defer os.Remove(answer)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(answer); err == nil {
			return nil
		}
		if !loggerAlive(filepath.Join(dir, loggerSync)) {
			return nil // exited: it drained the pipes to EOF (or died)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errDrainTimeout
		case <-tick.C:
		}
	}
}

// sendDrainRequest writes token to the sync FIFO; false when no logger reads it.
func sendDrainRequest(path, token string) (bool, error) {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENOENT) {
		return false, nil // no logger (exited, or a task of an older agent)
	}
	if err != nil {
		return false, fmt.Errorf("containerd: open %s: %w", path, err)
	}
	defer syscall.Close(fd)
	msg := []byte(token + "\n")
	for range 100 {
		n, err := syscall.Write(fd, msg)
		if err == nil && n == len(msg) {
			return true, nil
		}
		if err != syscall.EAGAIN && err != syscall.EINTR {
			return false, fmt.Errorf("containerd: write %s: %w", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false, fmt.Errorf("containerd: %s stays full", path)
}

// loggerAlive reports whether a process still reads the sync FIFO at path.
func loggerAlive(path string) bool {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	syscall.Close(fd)
	return true
}
