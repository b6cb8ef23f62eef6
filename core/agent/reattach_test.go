package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/dispatcher"
	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/runtime"
)

// hookCalls counts what a backend's tasks asked of the network hook: a
// fresh task attaches at Start, a re-adopted one through ReattachNetworks.
type hookCalls struct {
	mu                sync.Mutex
	starts, reattachs int
	failReattach      int // the first N reattaches fail
}

func (h *hookCalls) get() (starts, reattachs int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.starts, h.reattachs
}

// reattachBackend wraps a backend so its controllers record hook calls.
type reattachBackend struct {
	runtime.Backend
	calls *hookCalls
}

func (b reattachBackend) Controller(spec *runtime.TaskSpec) (runtime.Controller, error) {
	c, err := b.Backend.Controller(spec)
	if err != nil {
		return nil, err
	}
	return reattachController{c, b.calls}, nil
}

type reattachController struct {
	runtime.Controller
	calls *hookCalls
}

func (c reattachController) Start(ctx context.Context) error {
	c.calls.mu.Lock()
	c.calls.starts++
	c.calls.mu.Unlock()
	return c.Controller.Start(ctx)
}

func (c reattachController) ReattachNetworks(context.Context) error {
	c.calls.mu.Lock()
	defer c.calls.mu.Unlock()
	c.calls.reattachs++
	if c.calls.reattachs <= c.calls.failReattach {
		return errors.New("gossip not ready")
	}
	return nil
}

func TestRestartReattachesRunningTaskNetworksOnce(t *testing.T) {
	m := newManager(t, dispatcher.Config{})
	backendDir, stateDir := t.TempDir(), t.TempDir()
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	start := func(calls *hookCalls) (runtime.Backend, func()) {
		b := processBackend(t, backendDir)
		stop := startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client,
			Backend: reattachBackend{b, calls}, StateDir: stateDir})
		return b, stop
	}

	first := &hookCalls{}
	b1, stop1 := start(first)
	m.create(t, processTask("svc1", "n1", "sleep", "120"))
	poll.Until(t, "RUNNING", func() bool { return m.state("svc1") == stRunning })
	time.Sleep(300 * time.Millisecond) // a wrong reattach of the fresh task would come now
	if starts, reattachs := first.get(); starts != 1 || reattachs != 0 {
		t.Fatalf("fresh task: %d starts, %d reattaches; want 1 start, no reattach", starts, reattachs)
	}
	stop1()
	b1.Close()

	second := &hookCalls{failReattach: 1}
	b2, _ := start(second)
	t.Cleanup(func() {
		if c, err := b2.Controller(&runtime.TaskSpec{TaskID: "svc1", Kind: runtime.KindProcess, Command: []string{"true"}}); err == nil {
			_ = c.Stop(context.Background(), time.Second)
			_ = c.Remove(context.Background())
		}
		b2.Close()
	})
	poll.Until(t, "the re-adopted task reattached (after one failure)", func() bool {
		_, reattachs := second.get()
		return reattachs == 2
	})
	time.Sleep(300 * time.Millisecond)
	if starts, reattachs := second.get(); starts != 0 || reattachs != 2 {
		t.Fatalf("re-adopted task: %d starts, %d reattaches; want no start, 2 reattaches", starts, reattachs)
	}
	if st := inspect(t, b2, "svc1"); st.State != runtime.StateRunning {
		t.Fatalf("re-adopted task %v, want running", st.State)
	}
}
