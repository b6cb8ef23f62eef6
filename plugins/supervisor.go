package plugins

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"
)

// supervisor owns the sandbox child process: it starts it on demand, sends
// it one request at a time, reloads modules into a fresh child, and kills
// the child when a request overruns its deadline.
type supervisor struct {
	cfg    HostConfig
	log    *slog.Logger
	m      *metrics
	sem    chan struct{} // held while a request is in flight
	closed chan struct{}

	// Guarded by sem.
	child   *child
	modules map[string][]byte // every loaded module, to reload after a restart
}

type child struct {
	cmd    *exec.Cmd
	w      *os.File // requests
	r      *os.File // replies
	loaded map[string]bool
	exited chan struct{}
}

func newSupervisor(cfg HostConfig, log *slog.Logger, m *metrics) *supervisor {
	return &supervisor{
		cfg: cfg, log: log, m: m,
		sem:     make(chan struct{}, 1),
		closed:  make(chan struct{}),
		modules: make(map[string][]byte),
	}
}

func (s *supervisor) acquire(ctx context.Context) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-s.closed:
		return ErrClosed
	case <-ctx.Done():
		return errorf(ErrTimeout, "waiting for the sandbox: %v", ctx.Err())
	}
}

func (s *supervisor) release() { <-s.sem }

func (s *supervisor) start(ctx context.Context) (*child, error) {
	exe := s.cfg.SandboxCommand
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, errorf(ErrSandbox, "find executable: %v", err)
		}
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, errorf(ErrSandbox, "pipe: %v", err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, errorf(ErrSandbox, "pipe: %v", err)
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		repR.Close()
		repW.Close()
		return nil, errorf(ErrSandbox, "pipe: %v", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), SandboxEnv+"=1")
	cmd.Stdout = logW
	cmd.Stderr = logW
	cmd.ExtraFiles = []*os.File{reqR, repW}
	cmd.SysProcAttr = sandboxProcAttr()
	err = cmd.Start()
	// The child holds its ends now.
	reqR.Close()
	repW.Close()
	logW.Close()
	if err != nil {
		reqW.Close()
		repR.Close()
		logR.Close()
		return nil, errorf(ErrSandbox, "start %s: %v", exe, err)
	}
	c := &child{cmd: cmd, w: reqW, r: repR, loaded: make(map[string]bool), exited: make(chan struct{})}
	go s.pumpLog(logR, cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	s.m.restarts.Inc()
	cfg := encodeFields(nil,
		1, s.cfg.CacheDir,
		2, uint64(s.cfg.MemoryLimitPages),
		3, uint64(s.cfg.MaxOutput),
		4, uint64(s.cfg.MaxLogBytes),
		5, uint64(s.cfg.PoolSize))
	if _, err := s.roundTrip(ctx, c, frameConfig, cfg, s.cfg.LoadTimeout); err != nil {
		s.kill(c)
		return nil, err
	}
	s.log.Debug("plugin sandbox started", "pid", cmd.Process.Pid)
	return c, nil
}

// pumpLog forwards the child's own stdout/stderr (not the guests') to the
// logger, line by line, bounded.
func (s *supervisor) pumpLog(r *os.File, pid int) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	lines := 0
	for sc.Scan() {
		if lines++; lines <= 1000 {
			s.log.Warn("plugin sandbox output", "pid", pid, "line", sc.Text())
		}
	}
	// A line too long stops the scanner: drain the rest.
	_, _ = io.Copy(io.Discard, r)
}

func (s *supervisor) kill(c *child) {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	c.w.Close()
	c.r.Close()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		s.log.Error("plugin sandbox did not exit after SIGKILL", "pid", c.cmd.Process.Pid)
	}
	if s.child == c {
		s.child = nil
	}
}

// roundTrip sends one request and reads its reply within timeout (and ctx).
// Any failure other than an error reply kills the child.
func (s *supervisor) roundTrip(ctx context.Context, c *child, typ frameType, payload []byte, timeout time.Duration) (frame, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.w.SetWriteDeadline(deadline)
	_ = c.r.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() {
		_ = c.w.SetWriteDeadline(time.Now())
		_ = c.r.SetReadDeadline(time.Now())
	})
	defer stop()
	f, err := func() (frame, error) {
		if err := writeFrame(c.w, typ, payload); err != nil {
			return frame{}, err
		}
		return readFrame(c.r, s.cfg.MaxOutput+s.cfg.MaxLogBytes+(1<<16))
	}()
	if err != nil {
		s.kill(c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.m.timeouts.Inc()
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return frame{}, errorf(ErrTimeout, "canceled: %v; sandbox restarted", ctx.Err())
			}
			return frame{}, errorf(ErrTimeout, "no answer before the deadline (%v); sandbox killed", timeout)
		}
		return frame{}, errorf(ErrSandbox, "sandbox pipe: %v", err)
	}
	if f.typ == frameErr {
		fs, derr := decodeFields(f.payload)
		if derr != nil {
			s.kill(c)
			return frame{}, errorf(ErrSandbox, "bad error frame: %v", derr)
		}
		return f, &guestError{
			err:  &codedError{sentinel: codeError(fs.varints[1]), detail: string(fs.bytes[2])},
			logs: string(fs.bytes[3]),
		}
	}
	return f, nil
}

// guestError carries the guest's output along with an error reply.
type guestError struct {
	err  error
	logs string
}

func (e *guestError) Error() string { return e.err.Error() }
func (e *guestError) Unwrap() error { return e.err }

func splitLogs(err error) (error, string) {
	var ge *guestError
	if errors.As(err, &ge) {
		return ge.err, ge.logs
	}
	return err, ""
}

// ensure returns a running child with module sha loaded.
func (s *supervisor) ensure(ctx context.Context, sha string) (*child, error) {
	if s.child == nil {
		c, err := s.start(ctx)
		if err != nil {
			return nil, err
		}
		s.child = c
	}
	c := s.child
	if sha == "" || c.loaded[sha] {
		return c, nil
	}
	wasm, ok := s.modules[sha]
	if !ok {
		return nil, errorf(ErrNotLoaded, "%s", sha)
	}
	if _, err := s.roundTrip(ctx, c, frameLoad, encodeFields(nil, 1, sha, 2, wasm), s.cfg.LoadTimeout); err != nil {
		err, _ = splitLogs(err)
		return nil, err
	}
	c.loaded[sha] = true
	return c, nil
}

func (s *supervisor) validate(ctx context.Context, wasm []byte, kind Kind) (Info, error) {
	if err := s.acquire(ctx); err != nil {
		return Info{}, err
	}
	defer s.release()
	c, err := s.ensure(ctx, "")
	if err != nil {
		return Info{}, err
	}
	f, err := s.roundTrip(ctx, c, frameValidate, encodeFields(nil, 1, wasm, 2, string(kind)), s.cfg.LoadTimeout)
	if err != nil {
		err, _ = splitLogs(err)
		return Info{}, err
	}
	return infoFromOK(f.payload)
}

func (s *supervisor) load(ctx context.Context, sha string, wasm []byte) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	_, had := s.modules[sha]
	s.modules[sha] = wasm
	if _, err := s.ensure(ctx, sha); err != nil {
		if !had {
			delete(s.modules, sha)
		}
		return err
	}
	return nil
}

func (s *supervisor) unload(ctx context.Context, sha string) {
	if err := s.acquire(ctx); err != nil {
		return
	}
	defer s.release()
	delete(s.modules, sha)
	if c := s.child; c != nil && c.loaded[sha] {
		delete(c.loaded, sha)
		_, _ = s.roundTrip(ctx, c, frameUnload, encodeFields(nil, 1, sha), s.cfg.LoadTimeout)
	}
}

func (s *supervisor) call(ctx context.Context, sha string, o op, req []byte) ([]byte, string, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, "", err
	}
	defer s.release()
	c, err := s.ensure(ctx, sha)
	if err != nil {
		return nil, "", err
	}
	f, err := s.roundTrip(ctx, c, frameCall, encodeFields(nil, 1, sha, 2, uint64(o), 3, req), s.cfg.CallTimeout)
	if err != nil {
		err, logs := splitLogs(err)
		return nil, logs, err
	}
	if f.typ != frameResult {
		s.kill(c)
		return nil, "", errorf(ErrSandbox, "unexpected reply frame %d", f.typ)
	}
	fs, err := decodeFields(f.payload)
	if err != nil {
		s.kill(c)
		return nil, "", errorf(ErrSandbox, "bad result frame: %v", err)
	}
	return fs.bytes[1], string(fs.bytes[2]), nil
}

func (s *supervisor) close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	// Wait for an in-flight request, but not forever.
	select {
	case s.sem <- struct{}{}:
		defer s.release()
	case <-time.After(s.cfg.CallTimeout + time.Second):
		return fmt.Errorf("%w: a call is still running", ErrSandbox)
	}
	close(s.closed)
	s.kill(s.child)
	return nil
}
