package containerd

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// recordingHook is a NetworkHook that checks the namespace it is given
// exists and records its calls.
type recordingHook struct {
	mu       sync.Mutex
	attached []string // netns paths
	detached []string // task IDs
}

const clusterResolv = "nameserver 127.0.0.11\noptions ndots:0\n"

func (h *recordingHook) Attach(_ context.Context, spec *runtime.TaskSpec, netnsPath string) ([]byte, error) {
	if _, err := os.Stat(netnsPath); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attached = append(h.attached, netnsPath)
	return []byte(clusterResolv), nil
}

func (h *recordingHook) Detach(_ context.Context, taskID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.detached = append(h.detached, taskID)
	return nil
}

func clusterSpec(id string) *runtime.TaskSpec {
	s := spec(id, "cat", "/etc/resolv.conf")
	s.Networks = []runtime.NetworkAttachment{{NetworkID: "n1", Addr: netip.MustParsePrefix("10.0.1.5/24")}}
	return s
}

func TestClusterNetworkTaskIsAttachedInItsNetnsAndGetsTheClusterResolver(t *testing.T) {
	e := newEnv(t)
	hook := &recordingHook{}
	e.cfg.NetworkHook = hook
	b := e.backend()
	c := run(t, b, clusterSpec("ovl"))
	if _, err := c.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if logs := collectLogs(t, c, runtime.LogOptions{Tail: -1}); logs != clusterResolv {
		t.Fatalf("the task's resolv.conf = %q, want the hook's %q", logs, clusterResolv)
	}
	hook.mu.Lock()
	attached, detached := len(hook.attached), slices.Clone(hook.detached)
	hook.mu.Unlock()
	if attached != 1 {
		t.Fatalf("hook attached %d times, want once", attached)
	}
	// Its addresses are free once it exits: it leaves the networks then.
	if !slices.Equal(detached, []string{"ovl"}) {
		t.Fatalf("detached %v after the task exited, want it detached", detached)
	}
	remove(t, c)
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.detached) == 0 || slices.ContainsFunc(hook.detached, func(id string) bool { return id != "ovl" }) {
		t.Fatalf("detached %v, want only the task (Remove repeats the detach)", hook.detached)
	}
}

func TestClusterNetworkTaskWithoutHookIsRefusedAtStart(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	c, err := b.Controller(clusterSpec("nohook"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	if err := c.Prepare(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); !errors.Is(err, runtime.ErrUnsupported) {
		t.Fatalf("Start = %v, want ErrUnsupported naming the network agent", err)
	}
}

func (h *recordingHook) attachedTo() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.attached)
}

// A restarted agent's backend hands a running task to its (new) hook again,
// in the same namespace; a stopped task is not reattached.
func TestReadoptedRunningTaskIsReattachedToItsClusterNetworks(t *testing.T) {
	e := newEnv(t)
	first := &recordingHook{}
	e.cfg.NetworkHook = first
	s := clusterSpec("ovlre")
	s.Command = []string{"sleep", "120"}
	c1 := run(t, e.backend(), s)
	if got := first.attachedTo(); len(got) != 1 {
		t.Fatalf("first hook attached %v, want once at Start", got)
	}

	second := &recordingHook{}
	e.cfg.NetworkHook = second
	c2, err := e.backend().Controller(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(ctxT(t)); err != nil { // already running: no attach
		t.Fatal(err)
	}
	if got := second.attachedTo(); len(got) != 0 {
		t.Fatalf("Start of a running task attached %v", got)
	}
	r, ok := c2.(runtime.NetworkReattacher)
	if !ok {
		t.Fatal("the containerd controller is not a NetworkReattacher")
	}
	if err := r.ReattachNetworks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := second.attachedTo(), first.attachedTo(); !slices.Equal(got, want) {
		t.Fatalf("reattached to %v, want the task's namespace %v", got, want)
	}

	if err := c1.Stop(ctxT(t), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.ReattachNetworks(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := second.attachedTo(); len(got) != 1 {
		t.Fatalf("a stopped task was reattached: %v", got)
	}
	remove(t, c2)
}
