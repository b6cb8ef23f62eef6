package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/auth/authtest"
	"github.com/shoal-project/shoal/core/dispatcher"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/process"
	"github.com/shoal-project/shoal/runtime/sim"
)

func TestMain(m *testing.M) {
	process.MaybeRunShim()
	os.Exit(m.Run())
}

// agentClock adapts sim.ManualClock to Clock.
type agentClock struct{ *sim.ManualClock }

func (c agentClock) AfterFunc(d time.Duration, f func()) Timer { return c.ManualClock.AfterFunc(d, f) }

// manager is a dispatcher on a local store, served over h2c.
type manager struct {
	st  *store.Store
	d   *dispatcher.Dispatcher
	srv *httptest.Server

	removed sync.Map // node ID -> true: calls fail as the manager's revoked check does
}

func newManager(t *testing.T, cfg dispatcher.Config) *manager {
	t.Helper()
	st := store.NewLocal()
	d, err := dispatcher.New(st, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m := &manager{st: st, d: d}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewDispatcherServiceHandler(d, connect.WithInterceptors(auth.NewRemovedInterceptor(func(id string) bool { _, gone := m.removed.Load(id); return gone }))))
	srv := authtest.NewServer(t, mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	m.srv = srv
	return m
}

// clients maps manager addresses to servers, for Config.Client.
type clients struct {
	t    *testing.T
	node string
	mu   sync.Mutex
	urls map[string]string
	hits map[string]int
}

func newClients(t *testing.T, node string, urls map[string]string) *clients {
	return &clients{t: t, node: node, urls: urls, hits: make(map[string]int)}
}

func (c *clients) client(addr string) shoalv1connect.DispatcherServiceClient {
	c.mu.Lock()
	c.hits[addr]++
	url, ok := c.urls[addr]
	c.mu.Unlock()
	if !ok {
		url = "http://" + addr
	}
	return shoalv1connect.NewDispatcherServiceClient(authtest.Client(c.t, c.node), url)
}

func (c *clients) count(addr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[addr]
}

// autoAdvance moves clock forward by step every real millisecond until the test ends.
func autoAdvance(t *testing.T, clock *sim.ManualClock, step time.Duration) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				clock.Advance(step)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// startAgent runs an agent until the returned stop function is called (or the test ends).
func startAgent(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("agent Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("agent did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (m *manager) task(id string) *shoalv1.Task {
	var t *shoalv1.Task
	_ = m.st.View(func(tx store.ReadTx) error { t = tx.GetTask(id); return nil })
	return t
}

func (m *manager) node(id string) *shoalv1.Node {
	var n *shoalv1.Node
	_ = m.st.View(func(tx store.ReadTx) error { n = tx.GetNode(id); return nil })
	return n
}

func (m *manager) state(id string) shoalv1.TaskState { return m.task(id).GetStatus().GetState() }

func (m *manager) create(t *testing.T, tasks ...*shoalv1.Task) {
	t.Helper()
	err := m.st.Update(context.Background(), func(tx store.Tx) error {
		for _, tk := range tasks {
			if err := tx.Create(tk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (m *manager) update(t *testing.T, id string, fn func(*shoalv1.Task)) {
	t.Helper()
	err := m.st.Update(context.Background(), func(tx store.Tx) error {
		tk := proto.CloneOf(tx.GetTask(id))
		fn(tk)
		return tx.Update(tk)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (m *manager) remove(t *testing.T, id string) {
	t.Helper()
	if err := m.st.Update(context.Background(), func(tx store.Tx) error { return tx.Delete(store.KindTask, id) }); err != nil {
		t.Fatal(err)
	}
}

func processTask(id, node string, argv ...string) *shoalv1.Task {
	return &shoalv1.Task{
		Id: id, ServiceId: "svc", ServiceName: "web", Slot: 1, NodeId: node,
		DesiredState: shoalv1.TaskState_TASK_STATE_RUNNING,
		Status:       &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_ASSIGNED},
		Spec:         &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: argv}}},
	}
}

func simBackend(t *testing.T, clock *sim.ManualClock, cfg sim.Config) *sim.Backend {
	t.Helper()
	cfg.Clock = clock
	b, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func processBackend(t *testing.T, dir string) *process.Backend {
	t.Helper()
	b, err := process.New(dir, nil, process.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func inspect(t *testing.T, b runtime.Backend, id string) runtime.Status {
	t.Helper()
	c, err := b.Controller(&runtime.TaskSpec{TaskID: id, Kind: runtime.KindProcess, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Inspect(context.Background())
	if err != nil {
		return runtime.Status{State: runtime.State(fmt.Sprint("error: ", err))}
	}
	return st
}
