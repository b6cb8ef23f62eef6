package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// task is one simulated task. Its state is a function of the clock and the
// times fixed at Start. All fields are guarded by Backend.mu.
type task struct {
	spec     *runtime.TaskSpec
	pid      int
	started  bool
	stopped  bool
	removed  bool
	startAt  time.Time // Start called
	runAt    time.Time // becomes running
	exitAt   time.Time // exits; zero = never
	exitCode int
	message  string

	wake  chan struct{} // closed at the next event; made only when someone waits
	timer Timer         // at most one, armed only while someone waits
	gen   uint32        // which timer is current, so a stale callback cannot clear a new one
}

// state returns the task's state at now.
func (t *task) state(now time.Time) runtime.State {
	switch {
	case !t.started:
		return runtime.StateCreated
	case !t.exitAt.IsZero() && !now.Before(t.exitAt):
		return runtime.StateExited
	case now.Before(t.runAt):
		return runtime.StateCreated
	default:
		return runtime.StateRunning
	}
}

func (t *task) status(now time.Time) runtime.Status {
	st := runtime.Status{State: t.state(now)}
	if st.State == runtime.StateCreated {
		return st
	}
	st.Pid, st.StartedAt = t.pid, t.runAt
	if st.State == runtime.StateExited {
		st.ExitCode, st.Message, st.FinishedAt = t.exitCode, t.message, t.exitAt
	}
	return st
}

// nextEvent is when the task's state changes next, if it ever does.
func (t *task) nextEvent(now time.Time) (time.Time, bool) {
	if !t.started {
		return time.Time{}, false
	}
	if now.Before(t.runAt) {
		return t.runAt, true
	}
	if !t.exitAt.IsZero() && now.Before(t.exitAt) {
		return t.exitAt, true
	}
	return time.Time{}, false
}

func (t *task) notify() {
	if t.wake != nil {
		close(t.wake)
		t.wake = nil
	}
}

func (t *task) disarm() {
	t.gen++
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// waitChan returns a channel closed at the task's next event, arming the
// task's single timer if needed. Called with b.mu held.
func (b *Backend) waitChan(t *task, now time.Time) <-chan struct{} {
	if t.wake == nil {
		t.wake = make(chan struct{})
	}
	if at, ok := t.nextEvent(now); ok && t.timer == nil {
		t.gen++
		gen := t.gen
		t.timer = b.clock.AfterFunc(at.Sub(now), func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if t.gen == gen {
				t.timer = nil
			}
			t.notify()
		})
	}
	return t.wake
}

// controller implements runtime.Controller for one simulated task.
type controller struct {
	b    *Backend
	id   string
	spec *runtime.TaskSpec
}

var _ runtime.Controller = (*controller)(nil)

// lookup returns the task, or ErrNotFound / ErrClosed. Called with b.mu held.
func (c *controller) lookup() (*task, error) {
	if c.b.closed {
		return nil, ErrClosed
	}
	t, ok := c.b.tasks[c.id]
	if !ok {
		return nil, fmt.Errorf("task %s: %w", c.id, runtime.ErrNotFound)
	}
	return t, nil
}

// Prepare registers the task (created), after the Config.Prepare hook agrees.
func (c *controller) Prepare(ctx context.Context) error {
	b := c.b
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if _, ok := b.tasks[c.id]; ok {
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	if err := validate(c.spec); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if b.cfg.Prepare != nil {
		if err := b.cfg.Prepare(c.spec); err != nil {
			return fmt.Errorf("prepare task %s: %w", c.id, err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.tasks[c.id]; !ok {
		b.tasks[c.id] = &task{spec: c.spec}
	}
	return nil
}

// Start fixes the task's timeline and blocks until it runs (StartLatency).
// If ctx ends first the task still starts; Start returns ctx's error.
func (c *controller) Start(ctx context.Context) error {
	if err := c.Prepare(ctx); err != nil {
		return err
	}
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t, err := c.lookup()
	if err != nil {
		return err
	}
	now := b.clock.Now()
	if !t.started {
		t.started = true
		b.nextPid++
		t.pid = b.nextPid
		t.startAt = now
		t.runAt = now.Add(b.cfg.StartLatency)
		if fail, frac := b.fate(c.id); fail {
			t.exitAt = t.runAt.Add(time.Duration(frac * float64(b.cfg.FailAfter)))
			t.exitCode, t.message = ExitFailed, "simulated failure"
		} else if b.cfg.RunTime > 0 {
			t.exitAt = t.runAt.Add(b.cfg.RunTime)
			t.exitCode = ExitCompleted
		}
		t.notify()
	}
	for {
		if !now.Before(t.runAt) || t.removed || t.stopped {
			return nil
		}
		wake := b.waitChan(t, now)
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			b.mu.Lock()
			return fmt.Errorf("start task %s: %w", c.id, ctx.Err())
		}
		b.mu.Lock()
		if b.closed {
			return ErrClosed
		}
		now = b.clock.Now()
	}
}

// Wait blocks until the task has exited.
func (c *controller) Wait(ctx context.Context) (runtime.Status, error) {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		t, err := c.lookup()
		if err != nil {
			return runtime.Status{}, err
		}
		now := b.clock.Now()
		if t.state(now) == runtime.StateExited {
			return t.status(now), nil
		}
		wake := b.waitChan(t, now)
		b.mu.Unlock()
		select {
		case <-wake:
			b.mu.Lock()
		case <-ctx.Done():
			b.mu.Lock()
			return runtime.Status{}, ctx.Err()
		}
	}
}

// Stop ends a started task at once with exit code 143; the simulated task
// always honours its stop signal, so grace is not needed.
func (c *controller) Stop(ctx context.Context, grace time.Duration) error {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t, err := c.lookup()
	if err != nil {
		return nil
	}
	now := b.clock.Now()
	if !t.started || t.state(now) == runtime.StateExited {
		return nil
	}
	t.stopped = true
	t.exitAt, t.exitCode, t.message = now, ExitStopped, "stopped"
	if t.runAt.After(now) {
		t.runAt = now
	}
	t.disarm()
	t.notify()
	return nil
}

// Remove forgets the task.
func (c *controller) Remove(ctx context.Context) error {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tasks[c.id]
	if !ok {
		return nil
	}
	delete(b.tasks, c.id)
	t.removed = true
	t.disarm()
	t.notify()
	return nil
}

// Inspect returns the task's status at the clock's now.
func (c *controller) Inspect(ctx context.Context) (runtime.Status, error) {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	t, err := c.lookup()
	if err != nil {
		return runtime.Status{}, err
	}
	return t.status(b.clock.Now()), nil
}

// syntheticLines returns the lines the task has "written" by now.
func (t *task) syntheticLines(now time.Time) []runtime.LogLine {
	if !t.started {
		return nil
	}
	what := t.spec.Image
	if t.spec.Kind == runtime.KindProcess {
		what = strings.Join(t.spec.Command, " ")
	}
	lines := []runtime.LogLine{{Time: t.startAt, Stream: "stdout", Data: fmt.Appendf(nil, "starting %s task %s: %s", t.spec.Kind, t.spec.TaskID, what)}}
	st := t.state(now)
	if st == runtime.StateCreated {
		return lines
	}
	lines = append(lines, runtime.LogLine{Time: t.runAt, Stream: "stdout", Data: fmt.Appendf(nil, "running as simulated pid %d", t.pid)})
	if st == runtime.StateExited {
		switch {
		case t.stopped:
			lines = append(lines, runtime.LogLine{Time: t.exitAt, Stream: "stdout", Data: []byte("received stop signal, exiting")})
		case t.exitCode != 0:
			lines = append(lines, runtime.LogLine{Time: t.exitAt, Stream: "stderr", Data: fmt.Appendf(nil, "simulated failure: exit %d", t.exitCode)})
		default:
			lines = append(lines, runtime.LogLine{Time: t.exitAt, Stream: "stdout", Data: []byte("done")})
		}
	}
	return lines
}

// Logs sends the synthetic lines (a start line, a running line, an exit
// line). Tail -1 sends all, 0 none, n the last n. With Follow it sends new
// lines as they happen until the task exits (nil) or ctx ends (ctx.Err()).
func (c *controller) Logs(ctx context.Context, opts runtime.LogOptions, out chan<- runtime.LogLine) error {
	b := c.b
	b.mu.Lock()
	t, err := c.lookup()
	if err != nil {
		b.mu.Unlock()
		return err
	}
	now := b.clock.Now()
	lines := t.syntheticLines(now)
	b.mu.Unlock()

	var hist []runtime.LogLine
	for _, ll := range lines {
		if opts.Keeps(ll.Time) {
			hist = append(hist, ll)
		}
	}
	if opts.Tail >= 0 && len(hist) > opts.Tail {
		hist = hist[len(hist)-opts.Tail:]
	}
	for _, ll := range hist {
		if err := runtime.SendLine(ctx, out, ll); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	sent := len(lines)
	for {
		b.mu.Lock()
		t, err := c.lookup()
		if err != nil {
			b.mu.Unlock()
			return nil // removed: nothing more will be written
		}
		now := b.clock.Now()
		lines := t.syntheticLines(now)
		exited := t.state(now) == runtime.StateExited
		var wake <-chan struct{}
		if !exited {
			wake = b.waitChan(t, now)
		}
		b.mu.Unlock()
		for _, ll := range lines[min(sent, len(lines)):] {
			if err := runtime.SendLine(ctx, out, ll); err != nil {
				return err
			}
		}
		sent = max(sent, len(lines))
		if exited {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
