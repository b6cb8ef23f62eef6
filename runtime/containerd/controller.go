package containerd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/signal"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/taskfiles"
)

// controller drives one container task. All state lives in containerd (container
// labels, task status) and in the task's state directory, so a fresh controller in a
// restarted agent sees exactly what the previous one left.
type controller struct {
	b    *Backend
	spec runtime.TaskSpec
	id   string // container ID = task ID

	prepMu sync.Mutex // serialises Prepare/Start/Remove on this task
}

var (
	_ runtime.Controller        = (*controller)(nil)
	_ runtime.NetworkReattacher = (*controller)(nil)
)

func newController(b *Backend, spec *runtime.TaskSpec) *controller {
	s := *spec
	if s.Kind == "" {
		s.Kind = runtime.KindContainer
	}
	return &controller{b: b, spec: s, id: s.TaskID}
}

func (c *controller) ns(ctx context.Context) context.Context {
	return c.b.withNS(ctx)
}

func (c *controller) container(ctx context.Context) (client.Container, error) {
	ctr, err := c.b.client.LoadContainer(ctx, c.id)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("task %s: %w", c.id, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("task %s: load container: %w", c.id, err)
	}
	return ctr, nil
}

// task returns the container's task, or nil when none was created yet.
func (c *controller) task(ctx context.Context, ctr client.Container) (client.Task, error) {
	t, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task %s: load task: %w", c.id, err)
	}
	return t, nil
}

// Prepare validates the spec, pulls the image and creates the container (with its
// network namespace in bridge mode). An existing container is adopted as is.
func (c *controller) Prepare(ctx context.Context) error {
	ctx = c.ns(ctx)
	c.prepMu.Lock()
	defer c.prepMu.Unlock()
	if _, err := c.b.client.LoadContainer(ctx, c.id); err == nil {
		return nil // already prepared (possibly by a previous agent)
	}
	if err := validateSpec(&c.spec); err != nil {
		return fmt.Errorf("task %s: %w", c.id, err)
	}
	ref, _ := normalizeRef(c.spec.Image)
	img, err := c.b.image(ctx, ref)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.b.taskDir(c.id), 0o700); err != nil {
		return fmt.Errorf("task %s: state dir: %w", c.id, err)
	}
	labels := map[string]string{
		LabelTaskID:      c.spec.TaskID,
		LabelServiceID:   c.spec.ServiceID,
		LabelServiceName: c.spec.ServiceName,
		LabelSlot:        strconv.FormatUint(c.spec.Slot, 10),
		LabelNodeID:      c.spec.NodeID,
	}
	for k, v := range c.spec.Labels {
		if _, reserved := labels[k]; !reserved {
			labels[k] = v
		}
	}
	var netns string
	if c.spec.NetworkMode != "host" {
		ns, addr, err := c.b.net.setup(ctx, c.id)
		if err != nil {
			return fmt.Errorf("task %s: network: %w", c.id, err)
		}
		netns = ns
		labels[LabelNetns] = ns
		labels[LabelAddress] = addr.String()
	}
	_, err = c.b.client.NewContainer(ctx, c.id,
		client.WithImage(img),
		client.WithSnapshotter(c.b.cfg.Snapshotter),
		client.WithNewSnapshot(c.id, img),
		client.WithContainerLabels(labels),
		client.WithNewSpec(c.b.specOpts(img, &c.spec, netns)...),
	)
	if err != nil {
		if netns != "" {
			_ = c.b.net.teardown(context.WithoutCancel(ctx), c.id)
		}
		// A snapshot may have been left behind by the failed create.
		_ = c.b.client.SnapshotService(c.b.cfg.Snapshotter).Remove(context.WithoutCancel(ctx), c.id)
		if errors.Is(err, runtime.ErrInvalidSpec) {
			return fmt.Errorf("task %s: %w", c.id, err)
		}
		return fmt.Errorf("task %s: create container: %w", c.id, err)
	}
	return nil
}

// Start creates and starts the task. A task that is already running (or has already
// run) is left alone: Start never restarts anything.
func (c *controller) Start(ctx context.Context) error {
	ctx = c.ns(ctx)
	c.prepMu.Lock()
	defer c.prepMu.Unlock()
	ctr, err := c.container(ctx)
	if err != nil {
		return err
	}
	t, err := c.task(ctx, ctr)
	if err != nil {
		return err
	}
	adopted := t != nil
	if t == nil {
		addr, err := c.ensureNetns(ctx, ctr)
		if err != nil {
			return err
		}
		if addr.IsValid() && len(c.spec.HostPorts) > 0 {
			if err := c.b.net.publishHostPorts(ctx, addr, c.spec.HostPorts); err != nil {
				return fmt.Errorf("task %s: %w", c.id, err)
			}
		}
		if err := os.MkdirAll(c.b.taskDir(c.id), 0o700); err != nil {
			return fmt.Errorf("task %s: state dir: %w", c.id, err)
		}
		// Written afresh for every new task: the address may have changed (ensureNetns)
		// and the host's resolver configuration may have.
		resolv, err := c.attachNetworks(ctx, ctr)
		if err != nil {
			return err
		}
		if err := c.writeEtcFiles(ctx, ctr, addr, resolv); err != nil {
			return err
		}
		if err := taskfiles.Populate(c.b.filesDir(c.id), c.spec.Files); err != nil {
			return fmt.Errorf("task %s: %w", c.id, err)
		}
		t, err = ctr.NewTask(ctx, cio.BinaryIO(c.b.loggerPath, loggerArgs(c.b.logSet(c.id), c.b.cfg.LogMaxBytes)))
		if err != nil {
			return fmt.Errorf("task %s: create task: %w", c.id, err)
		}
	}
	st, err := t.Status(ctx)
	if err != nil {
		return fmt.Errorf("task %s: status: %w", c.id, err)
	}
	if st.Status != client.Created {
		return nil // running, paused or already exited
	}
	if adopted { // created by an agent that stopped before starting it
		if _, err := c.attachNetworks(ctx, ctr); err != nil {
			return err
		}
	}
	if err := t.Start(ctx); err != nil {
		return fmt.Errorf("task %s: start: %w", c.id, err)
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{LabelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		c.b.log.Warn("record start time", "task", c.id, "err", err)
	}
	return nil
}

// ensureNetns rebuilds a bridge-mode container's network namespace when it vanished
// since Prepare (e.g. the host rebooted: /var/run/netns is not persistent). The
// address allocation is persisted, so the container keeps its address. It returns
// the container's address; none (invalid) for a host-network container.
func (c *controller) ensureNetns(ctx context.Context, ctr client.Container) (netip.Addr, error) {
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("task %s: labels: %w", c.id, err)
	}
	name := labels[LabelNetns]
	if name == "" {
		return netip.Addr{}, nil // host network
	}
	if _, err := os.Stat(netnsPath(name)); err == nil {
		addr, err := netip.ParseAddr(labels[LabelAddress])
		if err != nil {
			return netip.Addr{}, fmt.Errorf("task %s: address label %q: %w", c.id, labels[LabelAddress], err)
		}
		return addr, nil
	}
	c.b.log.Info("recreating missing network namespace", "task", c.id, "netns", name)
	got, addr, err := c.b.net.setup(ctx, c.id)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("task %s: network: %w", c.id, err)
	}
	if got != name || addr.String() != labels[LabelAddress] {
		// The spec points at the old path; names are derived from the task ID, so only
		// the address can differ (allocation file lost).
		if _, err := ctr.SetLabels(ctx, map[string]string{LabelAddress: addr.String()}); err != nil {
			return netip.Addr{}, fmt.Errorf("task %s: record address: %w", c.id, err)
		}
	}
	return addr, nil
}

// Wait blocks until the task exits, or until its health check fails Retries times
// in a row: then the task is stopped (grace as in Stop) and Status.Unhealthy is set.
func (c *controller) Wait(ctx context.Context) (runtime.Status, error) {
	ctx = c.ns(ctx)
	ctr, err := c.container(ctx)
	if err != nil {
		return runtime.Status{}, err
	}
	t, err := c.task(ctx, ctr)
	if err != nil {
		return runtime.Status{}, err
	}
	if t == nil {
		return runtime.Status{}, fmt.Errorf("task %s: not started", c.id)
	}
	exitCh, err := t.Wait(ctx)
	if err != nil {
		return runtime.Status{}, fmt.Errorf("task %s: wait: %w", c.id, err)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	healthCh := make(chan error, 1)
	if healthEnabled(c.spec.Healthcheck) {
		started := c.startedAt(ctx, ctr)
		go func() { healthCh <- monitorHealth(hctx, ctr, t, c.spec.Healthcheck, started, time.Now) }()
	}
	select {
	case es := <-exitCh:
		return c.exited(ctx, ctr, es)
	case herr := <-healthCh:
		if herr == nil { // monitor stopped because ctx ended
			return runtime.Status{}, ctx.Err()
		}
		// The probe may have failed because the task just exited: prefer the exit.
		select {
		case es := <-exitCh:
			return c.exited(ctx, ctr, es)
		case <-time.After(100 * time.Millisecond):
		}
		// As docker does: the unhealthy task is stopped (stop signal, grace, SIGKILL), so
		// that it does not keep running next to the task that replaces it. The agent
		// reports a FAILED task and never stops it itself.
		if err := c.Stop(ctx, 0); err != nil {
			c.b.log.Warn("stop unhealthy task", "task", c.id, "err", err)
		}
		st, err := c.Inspect(ctx)
		if err != nil {
			return runtime.Status{}, err
		}
		st.Unhealthy = true
		st.Message = fmt.Sprintf("%v: %v", errUnhealthy, herr)
		return st, nil
	case <-ctx.Done():
		return runtime.Status{}, ctx.Err()
	}
}

func (c *controller) exited(ctx context.Context, ctr client.Container, es client.ExitStatus) (runtime.Status, error) {
	code, at, err := es.Result()
	if err != nil {
		return runtime.Status{}, fmt.Errorf("task %s: wait: %w", c.id, err)
	}
	c.releaseEndpoints(ctx)
	st := c.baseStatus(ctx, ctr)
	st.State = "exited"
	st.ExitCode = int(code)
	st.FinishedAt = at
	st.OOMKilled = c.oomKilled(code)
	st.Message = exitMessage(st)
	c.clearFiles()
	return st, nil
}

// releaseEndpoints takes an exited task off the network at once, not at
// Remove: the managers free its cluster addresses when it stops (a
// replacement may get the same one, on this node too) and a replacement's
// host ports must not be shadowed by its rules. What stays (netns, bridge
// address) goes at Remove.
func (c *controller) releaseEndpoints(ctx context.Context) {
	if h := c.b.cfg.NetworkHook; h != nil && len(c.spec.Networks) > 0 {
		if err := h.Detach(ctx, c.id); err != nil {
			c.b.log.Warn("detach the exited task's cluster networks", "task", c.id, "err", err)
		}
	}
	if addr, ok := c.b.net.addrOf(c.id); ok && len(c.spec.HostPorts) > 0 {
		if err := c.b.net.unpublishHostPorts(ctx, addr); err != nil {
			c.b.log.Warn("unpublish the exited task's host ports", "task", c.id, "err", err)
		}
	}
}

// oomKilled consults the OOM markers; a SIGKILL exit waits briefly for a late event.
func (c *controller) oomKilled(code uint32) bool {
	if c.b.oom.oomKilled(c.id) {
		return true
	}
	if code != 128+uint32(syscall.SIGKILL) {
		return false
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if c.b.oom.oomKilled(c.id) {
			return true
		}
	}
	return false
}

func exitMessage(st runtime.Status) string {
	switch {
	case st.OOMKilled:
		return fmt.Sprintf("out of memory (exit %d)", st.ExitCode)
	case st.ExitCode == 0:
		return "exited"
	default:
		return fmt.Sprintf("exit %d", st.ExitCode)
	}
}

func (c *controller) startedAt(ctx context.Context, ctr client.Container) time.Time {
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, labels[LabelStartedAt])
	return t
}

func (c *controller) baseStatus(ctx context.Context, ctr client.Container) runtime.Status {
	st := runtime.Status{State: "created"}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return st
	}
	if a := labels[LabelAddress]; a != "" {
		st.Addresses = []string{a}
	}
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, labels[LabelStartedAt])
	return st
}

// Inspect reports the task's current state.
func (c *controller) Inspect(ctx context.Context) (runtime.Status, error) {
	ctx = c.ns(ctx)
	ctr, err := c.container(ctx)
	if err != nil {
		return runtime.Status{}, err
	}
	st := c.baseStatus(ctx, ctr)
	t, err := c.task(ctx, ctr)
	if err != nil || t == nil {
		return st, err
	}
	ts, err := t.Status(ctx)
	if err != nil {
		return runtime.Status{}, fmt.Errorf("task %s: status: %w", c.id, err)
	}
	switch ts.Status {
	case client.Running, client.Paused, client.Pausing:
		st.State = "running"
		st.Pid = int(t.Pid())
	case client.Created:
		st.State = "created"
	case client.Stopped:
		st.State = "exited"
		st.ExitCode = int(ts.ExitStatus)
		st.FinishedAt = ts.ExitTime
		st.OOMKilled = c.b.oom.oomKilled(c.id)
		st.Message = exitMessage(st)
	default:
		st.State = "unknown"
	}
	return st, nil
}

// Stop sends the stop signal, waits up to grace (<= 0: the spec's StopGrace, default
// 10s), then SIGKILLs every process of the task. Stopping a stopped task is a no-op.
func (c *controller) Stop(ctx context.Context, grace time.Duration) error {
	ctx = c.ns(ctx)
	_, t, ts, err := c.taskStatus(ctx)
	if err != nil || t == nil {
		return err
	}
	if ts.Status == client.Stopped {
		return nil
	}
	exitCh, err := t.Wait(ctx)
	if err != nil {
		return fmt.Errorf("task %s: wait: %w", c.id, err)
	}
	sig, _ := signal.ParseSignal(stopSignal(&c.spec))
	if ts.Status == client.Created { // never started: nothing to be graceful about
		sig = syscall.SIGKILL
	}
	if err := t.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("task %s: signal %v: %w", c.id, sig, err)
	}
	timer := time.NewTimer(stopGrace(&c.spec, grace))
	defer timer.Stop()
	select {
	case <-exitCh:
		return nil
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := t.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("task %s: kill: %w", c.id, err)
	}
	select {
	case <-exitCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remove deletes the task, the container and its snapshot, the network namespace,
// veth and address, and the task's state directory (logs included). Idempotent.
func (c *controller) Remove(ctx context.Context) error {
	ctx = c.ns(ctx)
	c.prepMu.Lock()
	defer c.prepMu.Unlock()
	var errs []error
	ctr, err := c.b.client.LoadContainer(ctx, c.id)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("task %s: load container: %w", c.id, err)
	default:
		if t, err := c.task(ctx, ctr); err != nil {
			errs = append(errs, err)
		} else if t != nil {
			if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("task %s: delete task: %w", c.id, err))
			}
		}
		if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("task %s: delete container: %w", c.id, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Tear down whatever network state exists, whatever the spec says: a re-adopting
	// controller may have been given a partial spec.
	if h := c.b.cfg.NetworkHook; h != nil {
		if err := h.Detach(ctx, c.id); err != nil {
			errs = append(errs, fmt.Errorf("task %s: cluster networks: %w", c.id, err))
		}
	}
	if err := c.b.net.teardown(ctx, c.id); err != nil {
		errs = append(errs, fmt.Errorf("task %s: network: %w", c.id, err))
	}
	if err := taskfiles.Clear(c.b.filesDir(c.id)); err != nil {
		errs = append(errs, fmt.Errorf("task %s: %w", c.id, err))
	}
	if err := os.RemoveAll(c.b.taskDir(c.id)); err != nil {
		errs = append(errs, fmt.Errorf("task %s: state dir: %w", c.id, err))
	}
	if len(errs) == 0 {
		c.b.forget(c.id)
	}
	return errors.Join(errs...)
}

// attachNetworks connects the task's namespace to its cluster networks
// through the node's hook and returns the resolv.conf that points the task
// at its embedded DNS server; nil when the task has no cluster network.
func (c *controller) attachNetworks(ctx context.Context, ctr client.Container) ([]byte, error) {
	if len(c.spec.Networks) == 0 {
		return nil, nil
	}
	h := c.b.cfg.NetworkHook
	if h == nil {
		return nil, fmt.Errorf("task %s: cluster networks need the node's network agent (a root node on Linux): %w", c.id, runtime.ErrUnsupported)
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return nil, fmt.Errorf("task %s: labels: %w", c.id, err)
	}
	resolv, err := h.Attach(ctx, &c.spec, netnsPath(labels[LabelNetns]))
	if err != nil {
		return nil, fmt.Errorf("task %s: cluster networks: %w", c.id, err)
	}
	return resolv, nil
}

// ReattachNetworks hands a running task with cluster networks to the hook
// again (see runtime.NetworkReattacher). Its resolv.conf was written at
// Start and still points at the embedded DNS server, which the hook starts
// afresh in the task's namespace.
func (c *controller) ReattachNetworks(ctx context.Context) error {
	if len(c.spec.Networks) == 0 {
		return nil
	}
	ctx = c.ns(ctx)
	c.prepMu.Lock()
	defer c.prepMu.Unlock()
	ctr, t, ts, err := c.taskStatus(ctx)
	if err != nil || t == nil || (ts.Status != client.Running && ts.Status != client.Paused) {
		return err
	}
	_, err = c.attachNetworks(ctx, ctr)
	return err
}

// taskStatus loads the container, its task and the task's status; a nil
// task and no error when the container or its task does not exist.
func (c *controller) taskStatus(ctx context.Context) (client.Container, client.Task, client.Status, error) {
	ctr, err := c.container(ctx)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil, nil, client.Status{}, nil
	}
	if err != nil {
		return nil, nil, client.Status{}, err
	}
	t, err := c.task(ctx, ctr)
	if err != nil || t == nil {
		return ctr, nil, client.Status{}, err
	}
	ts, err := t.Status(ctx)
	if err != nil {
		return ctr, nil, client.Status{}, fmt.Errorf("task %s: status: %w", c.id, err)
	}
	return ctr, t, ts, nil
}
