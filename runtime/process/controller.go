package process

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/logfile"
	"github.com/shoal-project/shoal/runtime/taskfiles"
)

// task is the backend's in-memory handle on one task dir. All controllers for
// the same task ID share it.
type task struct {
	b       *Backend
	id, dir string

	mu sync.Mutex // serialises Prepare, Start, Stop and Remove

	watchMu  sync.Mutex
	watching bool
	removed  bool
	done     chan struct{} // closed once final is set
	final    runtime.Status
	kick     chan struct{} // wakes the watcher early (our shim was reaped)
	gone     chan struct{} // closed by Remove
}

func newTask(b *Backend, id, dir string) *task {
	return &task{b: b, id: id, dir: dir, done: make(chan struct{}), kick: make(chan struct{}, 1), gone: make(chan struct{})}
}

// watch starts, once, the goroutine that notices the task's exit.
func (t *task) watch() {
	t.watchMu.Lock()
	if t.watching {
		t.watchMu.Unlock()
		return
	}
	t.watching = true
	t.watchMu.Unlock()

	b := t.b
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go t.watchLoop()
}

func (t *task) watchLoop() {
	defer t.b.wg.Done()
	ticker := time.NewTicker(t.b.opts.poll)
	defer ticker.Stop()
	for {
		st, err := t.readStatus()
		switch {
		case err != nil && !exists(t.dir):
			st = runtime.Status{State: runtime.StateUnknown, ExitCode: -1, Message: "task dir removed"}
			fallthrough
		case err == nil && (st.State == runtime.StateExited || st.State == runtime.StateUnknown):
			t.clearFiles()
			t.final = st
			close(t.done)
			return
		case err != nil:
			t.b.log.Warn("read task status", "task", t.id, "err", err)
		}
		select {
		case <-ticker.C:
		case <-t.kick:
		case <-t.b.closed:
			return
		}
	}
}

// filesDir is the task's tmpfs of secrets and configs.
func (t *task) filesDir() string { return filepath.Join(t.dir, dirFiles) }

// clearFiles frees the task's secrets and configs once it has ended.
func (t *task) clearFiles() {
	if err := taskfiles.Clear(t.filesDir()); err != nil {
		t.b.log.Warn("free the task's secrets and configs", "task", t.id, "err", err)
	}
}

func (t *task) kickWatcher() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// readStatus derives the task's status from its files.
func (t *task) readStatus() (runtime.Status, error) {
	if !exists(t.dir) {
		return runtime.Status{}, fmt.Errorf("task %s: %w", t.id, runtime.ErrNotFound)
	}
	st := runtime.Status{State: runtime.StateCreated}
	var sf startedFile
	started, err := readJSON(t.dir, fileStarted, &sf)
	if err != nil {
		return runtime.Status{}, err
	}
	if started {
		st.State, st.Pid, st.StartedAt = runtime.StateRunning, sf.Pid, sf.StartedAt
	}
	var ef exitFile
	exited, err := readJSON(t.dir, fileExit, &ef)
	if err != nil {
		return runtime.Status{}, err
	}
	if !exited && started && !shimAlive(t.dir) {
		// The shim writes exit.json before it lets go of its lock: look again.
		if exited, err = readJSON(t.dir, fileExit, &ef); err != nil {
			return runtime.Status{}, err
		}
		if !exited {
			st.State, st.ExitCode = runtime.StateUnknown, -1
			st.Message = fmt.Sprintf("the shim of task %s died without recording an exit status; process group %d may still be running", t.id, sf.Pid)
			return st, nil
		}
	}
	if exited {
		st.State, st.ExitCode, st.Message, st.FinishedAt = runtime.StateExited, ef.ExitCode, ef.Message, ef.FinishedAt
	}
	return st, nil
}

func (t *task) readTaskFile() (taskFile, bool, error) {
	var tf taskFile
	ok, err := readJSON(t.dir, fileTask, &tf)
	return tf, ok, err
}

// controller implements runtime.Controller for one task.
type controller struct {
	t    *task
	spec *runtime.TaskSpec
}

var _ runtime.Controller = (*controller)(nil)

// Prepare checks the command, working dir and user, and writes the task dir.
func (c *controller) Prepare(ctx context.Context) error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	return c.prepareLocked()
}

func (c *controller) prepareLocked() error {
	t, spec := c.t, c.spec
	if exists(filepath.Join(t.dir, fileTask)) {
		return nil
	}
	if err := validateSpec(spec); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	sig, _ := parseSignal(spec.StopSignal)
	env := childEnv(spec)
	if len(spec.Files) > 0 {
		env = append(env, taskfiles.Env(t.filesDir())...)
	}
	if spec.Dir != "" {
		fi, err := os.Stat(spec.Dir)
		if err != nil {
			return fmt.Errorf("prepare task %s: working dir: %v: %w", t.id, err, runtime.ErrInvalidSpec)
		}
		if !fi.IsDir() {
			return fmt.Errorf("prepare task %s: working dir %q is not a directory: %w", t.id, spec.Dir, runtime.ErrInvalidSpec)
		}
	}
	path, err := lookCommand(spec.Command[0], spec.Dir, env)
	if err != nil {
		return fmt.Errorf("prepare task %s: %w", t.id, err)
	}
	tf := taskFile{
		TaskID:      t.id,
		Path:        path,
		Argv:        append([]string(nil), spec.Command...),
		Env:         env,
		Dir:         spec.Dir,
		StopSignal:  int(sig),
		StopGrace:   spec.StopGrace,
		LogMaxBytes: t.b.opts.logMaxBytes,
		LogKeep:     t.b.opts.logKeep,
		CreatedAt:   time.Now(),
	}
	if tf.StopGrace <= 0 {
		tf.StopGrace = defaultStopGrace
	}
	if spec.User != "" {
		uid, gid, err := parseUser(spec.User)
		if err != nil {
			return fmt.Errorf("prepare task %s: %w", t.id, err)
		}
		tf.SetCred, tf.UID, tf.GID = true, uid, gid
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return fmt.Errorf("prepare task %s: create task dir: %w", t.id, err)
	}
	if len(spec.Files) > 0 {
		if err := taskfiles.Populate(t.filesDir(), spec.Files); err != nil {
			return fmt.Errorf("prepare task %s: %w", t.id, err)
		}
	}
	if err := writeJSONAtomic(t.dir, fileTask, tf); err != nil {
		return fmt.Errorf("prepare task %s: write task file: %w", t.id, err)
	}
	return nil
}

// Start launches the shim and returns once the command runs (or failed to
// start). Starting a task that was started before (by this or an earlier
// Backend) only attaches to it; a task never runs twice.
func (c *controller) Start(ctx context.Context) error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := c.prepareLocked(); err != nil {
		return err
	}
	var reaped chan struct{}
	if !exists(filepath.Join(t.dir, fileStarted)) && !exists(filepath.Join(t.dir, fileExit)) && !shimAlive(t.dir) {
		var err error
		if reaped, err = c.launchShim(); err != nil {
			return err
		}
	}
	deadline := time.NewTimer(t.b.opts.startWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var ef exitFile
		exited, err := readJSON(t.dir, fileExit, &ef)
		if err != nil {
			return fmt.Errorf("start task %s: %w", t.id, err)
		}
		if exited && !ef.StartedOK {
			return fmt.Errorf("start task %s: %s", t.id, ef.Message)
		}
		if exited || exists(filepath.Join(t.dir, fileStarted)) {
			t.watch()
			return nil
		}
		select {
		case <-tick.C:
		case <-reaped:
			if exists(filepath.Join(t.dir, fileStarted)) || exists(filepath.Join(t.dir, fileExit)) {
				continue
			}
			return fmt.Errorf("start task %s: shim exited before starting the command: %s", t.id, shimLogTail(t.dir))
		case <-deadline.C:
			return fmt.Errorf("start task %s: the command did not start within %v: %s", t.id, t.b.opts.startWait, shimLogTail(t.dir))
		case <-ctx.Done():
			return fmt.Errorf("start task %s: %w", t.id, ctx.Err())
		}
	}
}

// launchShim starts the detached shim. The returned channel is closed when
// this process has reaped it.
func (c *controller) launchShim() (chan struct{}, error) {
	t := c.t
	logFile, err := os.OpenFile(filepath.Join(t.dir, fileShimLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start task %s: open shim log: %w", t.id, err)
	}
	defer logFile.Close()
	cmd := &exec.Cmd{
		Path:   t.b.opts.shimPath,
		Args:   []string{"shoal-process-shim", t.id},
		Env:    []string{ShimEnv + "=" + t.dir},
		Dir:    "/",
		Stdout: logFile,
		Stderr: logFile,
		// Own session: no controlling terminal, not in the agent's process
		// group, so signals aimed at the agent do not reach the task.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start task %s: launch shim %s: %w", t.id, t.b.opts.shimPath, err)
	}
	reaped := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(reaped)
		t.kickWatcher()
	}()
	t.b.log.Debug("launched shim", "task", t.id, "shim_pid", cmd.Process.Pid)
	return reaped, nil
}

func shimLogTail(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, fileShimLog))
	if err != nil || len(data) == 0 {
		return "shim log empty"
	}
	data = bytes.TrimSpace(data)
	if len(data) > 512 {
		data = data[len(data)-512:]
	}
	return "shim log: " + string(data)
}

// Wait blocks until the task has exited and returns its final status.
func (c *controller) Wait(ctx context.Context) (runtime.Status, error) {
	t := c.t
	if !exists(t.dir) {
		return runtime.Status{}, fmt.Errorf("task %s: %w", t.id, runtime.ErrNotFound)
	}
	if exists(filepath.Join(t.dir, fileStarted)) || exists(filepath.Join(t.dir, fileExit)) {
		t.watch()
	}
	select {
	case <-t.done:
		return t.final, nil
	case <-t.gone:
		return runtime.Status{}, fmt.Errorf("task %s: removed: %w", t.id, runtime.ErrNotFound)
	case <-t.b.closed:
		return runtime.Status{}, ErrClosed
	case <-ctx.Done():
		return runtime.Status{}, ctx.Err()
	}
}

// Stop sends the task's stop signal to its process group, waits grace (if
// grace <= 0: the spec's StopGrace, default 10s), then sends SIGKILL to the
// group, and returns once the task has exited. Stopping a task that is not
// running is a no-op.
func (c *controller) Stop(ctx context.Context, grace time.Duration) error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := t.readStatus()
	if err != nil || st.State != runtime.StateRunning {
		return nil
	}
	tf, _, err := t.readTaskFile()
	if err != nil {
		return fmt.Errorf("stop task %s: %w", t.id, err)
	}
	sig := syscall.Signal(tf.StopSignal)
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if grace <= 0 {
		grace = tf.StopGrace
	}
	if grace <= 0 {
		grace = defaultStopGrace
	}
	t.watch()
	if err := syscall.Kill(-st.Pid, sig); err != nil && !isESRCH(err) {
		return fmt.Errorf("stop task %s: signal %v to process group %d: %w", t.id, sig, st.Pid, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop task %s: %w", t.id, ctx.Err())
	case <-t.b.closed:
		return ErrClosed
	case <-timer.C:
	}
	t.b.log.Info("task ignored stop signal; killing it", "task", t.id, "signal", sig.String(), "grace", grace)
	return t.killLocked(ctx, st.Pid)
}

func (t *task) killLocked(ctx context.Context, pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !isESRCH(err) {
		return fmt.Errorf("kill task %s: process group %d: %w", t.id, pid, err)
	}
	t.watch()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kill task %s: %w", t.id, ctx.Err())
	case <-t.b.closed:
		return ErrClosed
	}
}

// Remove kills the task if it still runs and deletes its dir.
func (c *controller) Remove(ctx context.Context) error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if exists(t.dir) {
		st, err := t.readStatus()
		if err == nil && st.State == runtime.StateRunning {
			if err := t.killLocked(ctx, st.Pid); err != nil {
				return fmt.Errorf("remove: %w", err)
			}
		}
		if err := taskfiles.Clear(t.filesDir()); err != nil {
			return fmt.Errorf("remove task %s: %w", t.id, err)
		}
		if err := os.RemoveAll(t.dir); err != nil {
			return fmt.Errorf("remove task %s: %w", t.id, err)
		}
	}
	t.watchMu.Lock()
	if !t.removed {
		t.removed = true
		close(t.gone)
	}
	t.watchMu.Unlock()
	t.b.forget(t.id, t)
	return nil
}

// Inspect reads the task's status from its files.
func (c *controller) Inspect(ctx context.Context) (runtime.Status, error) {
	return c.t.readStatus()
}

// Logs sends the task's output lines to out. Tail -1 sends all history, 0
// none, n the last n lines. With Follow it keeps sending new lines until the
// task has exited (then returns nil) or ctx ends (then returns ctx.Err()).
func (c *controller) Logs(ctx context.Context, opts runtime.LogOptions, out chan<- runtime.LogLine) error {
	t := c.t
	keep := t.b.opts.logKeep
	if tf, ok, _ := t.readTaskFile(); ok {
		keep = tf.LogKeep
	}
	exited := func() bool {
		return exists(filepath.Join(t.dir, fileExit)) || !exists(t.dir) ||
			(exists(filepath.Join(t.dir, fileStarted)) && !shimAlive(t.dir))
	}
	poll := min(t.b.opts.poll, 100*time.Millisecond)
	if err := logfile.Stream(ctx, outputLog(t.dir, keep), opts, out, exited, poll); err != nil {
		return fmt.Errorf("logs of task %s: %w", t.id, err)
	}
	return nil
}
