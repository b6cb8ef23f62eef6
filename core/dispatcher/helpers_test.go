package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/auth/authtest"
	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/runtime/sim"
)

// manualClock adapts sim.ManualClock to Clock.
type manualClock struct{ *sim.ManualClock }

func (c manualClock) AfterFunc(d time.Duration, f func()) Timer { return c.ManualClock.AfterFunc(d, f) }

type harness struct {
	t     testing.TB
	st    *store.Store
	d     *Dispatcher
	clock *sim.ManualClock
	srv   *httptest.Server
	ctx   context.Context
	done  chan struct{}
}

// newHarness starts a dispatcher on a local store over h2c. Unless cfg sets
// one, the heartbeat period is an hour so that eventually's clock steps
// never expire a session.
func newHarness(t testing.TB, cfg Config, storeOpts ...store.Option) *harness {
	t.Helper()
	return newHarnessSeeded(t, cfg, nil, storeOpts...)
}

// newHarnessSeeded runs seed on the store before the dispatcher's Run starts.
func newHarnessSeeded(t testing.TB, cfg Config, seed func(*store.Store) error, storeOpts ...store.Option) *harness {
	t.Helper()
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := store.NewLocal(append([]store.Option{store.WithClock(clock.Now)}, storeOpts...)...)
	return newHarnessOn(t, cfg, clock, st, seed)
}

// errNoQuorum is testProposer's failure.
var errNoQuorum = errors.New("test: no quorum")

// testProposer is a unit-test stand-in for Raft: every proposal takes
// delay to commit, then applies to the in-memory store, or fails with
// errNoQuorum while fail is set.
type testProposer struct {
	inner *store.MemoryProposer
	delay time.Duration
	fail  *atomic.Bool
}

func (p testProposer) Propose(ctx context.Context, payload []byte) error {
	time.Sleep(p.delay)
	if p.fail.Load() {
		return errNoQuorum
	}
	return p.inner.Propose(ctx, payload)
}

// newHarnessProposer is newHarness on a store whose proposals take delay
// each, as a Raft commit does, and fail while the returned flag is set.
func newHarnessProposer(t testing.TB, cfg Config, delay time.Duration) (*harness, *atomic.Bool) {
	t.Helper()
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mp := store.NewMemoryProposer()
	fail := new(atomic.Bool)
	st := store.New(testProposer{inner: mp, delay: delay, fail: fail}, store.WithClock(clock.Now))
	mp.Bind(st)
	return newHarnessOn(t, cfg, clock, st, nil), fail
}

func newHarnessOn(t testing.TB, cfg Config, clock *sim.ManualClock, st *store.Store, seed func(*store.Store) error) *harness {
	t.Helper()
	if cfg.HeartbeatPeriod == 0 {
		cfg.HeartbeatPeriod = time.Hour
	}
	if cfg.AssignmentBatch == 0 {
		cfg.AssignmentBatch = -1 // each entry's changes at once, unless a test batches
	}
	cfg.Clock = manualClock{clock}
	if seed != nil {
		if err := seed(st); err != nil {
			t.Fatal(err)
		}
	}
	d, err := New(st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(shoalv1connect.NewDispatcherServiceHandler(d))
	srv := authtest.NewServer(t, mux)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	h := &harness{t: t, st: st, d: d, clock: clock, srv: srv, ctx: ctx, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for !d.isRunning() {
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

func (h *harness) client(node string) shoalv1connect.DispatcherServiceClient {
	return shoalv1connect.NewDispatcherServiceClient(authtest.Client(h.t, node), h.srv.URL)
}

// eventually polls cond, advancing the clock by a flush interval per try.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		h.clock.Advance(h.d.cfg.StatusFlushInterval)
		time.Sleep(10 * time.Millisecond)
	}
}

// openSession opens a session for node and returns its first message and stream.
func (h *harness) openSession(c shoalv1connect.DispatcherServiceClient, node, version string) (*shoalv1.SessionMessage, *connect.ServerStreamForClient[shoalv1.SessionMessage]) {
	h.t.Helper()
	stream, err := c.Session(h.ctx, connect.NewRequest(&shoalv1.SessionRequest{
		AgentVersion: version,
		Description:  &shoalv1.NodeDescription{Hostname: "host-" + node, Kinds: []string{"process"}, GossipAddr: "gossip-" + node + ":7946"},
	}))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { stream.Close() })
	if !stream.Receive() {
		h.t.Fatalf("session %s: no first message: %v", node, stream.Err())
	}
	return stream.Msg(), stream
}

func (h *harness) node(id string) *shoalv1.Node {
	var n *shoalv1.Node
	_ = h.st.View(func(tx store.ReadTx) error { n = tx.GetNode(id); return nil })
	return n
}

func (h *harness) task(id string) *shoalv1.Task {
	var t *shoalv1.Task
	_ = h.st.View(func(tx store.ReadTx) error { t = proto.CloneOf(tx.GetTask(id)); return nil })
	return t
}

func (h *harness) nodeState(id string) shoalv1.NodeState { return h.node(id).GetStatus().GetState() }

func (h *harness) createTasks(tasks ...*shoalv1.Task) {
	h.t.Helper()
	err := h.st.Update(h.ctx, func(tx store.Tx) error {
		for _, t := range tasks {
			if err := tx.Create(t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) updateTask(id string, fn func(*shoalv1.Task)) {
	h.t.Helper()
	err := h.st.Update(h.ctx, func(tx store.Tx) error {
		t := proto.CloneOf(tx.GetTask(id))
		fn(t)
		return tx.Update(t)
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func newTask(id, node string, state, desired shoalv1.TaskState) *shoalv1.Task {
	return &shoalv1.Task{
		Id: id, ServiceId: "svc", ServiceName: "web", Slot: 1, NodeId: node,
		DesiredState: desired,
		Status:       &shoalv1.TaskStatus{State: state},
		Spec:         &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Process{Process: &shoalv1.ProcessSpec{Command: []string{"sleep", "60"}}}},
	}
}

// runningSession stores n tasks assigned to node n1, desired RUNNING, and
// opens n1's session; it returns the tasks, the client and the session ID.
func (h *harness) runningSession(n int) ([]*shoalv1.Task, shoalv1connect.DispatcherServiceClient, string) {
	tasks := make([]*shoalv1.Task, n)
	for i := range tasks {
		tasks[i] = newTask(fmt.Sprintf("t%05d", i), "n1", shoalv1.TaskState_TASK_STATE_ASSIGNED, shoalv1.TaskState_TASK_STATE_RUNNING)
	}
	h.createTasks(tasks...)
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	return tasks, c, first.GetSessionId()
}

// reportRunning reports every task RUNNING, per requests of size updates.
func (h *harness) reportRunning(c shoalv1connect.DispatcherServiceClient, sess string, tasks []*shoalv1.Task, size int) {
	h.t.Helper()
	for chunk := range slices.Chunk(tasks, size) {
		var ups []*shoalv1.TaskStatusUpdate
		for _, tk := range chunk {
			ups = append(ups, upd(tk.GetId(), status(shoalv1.TaskState_TASK_STATE_RUNNING, "")))
		}
		if err := report(h, c, sess, ups...); err != nil {
			h.t.Fatal(err)
		}
	}
}

// countRunning counts the stored tasks whose observed state is RUNNING.
func (h *harness) countRunning() int {
	cnt := 0
	_ = h.st.View(func(tx store.ReadTx) error {
		cnt, _ = tx.Count(store.KindTask, store.ByTaskState(shoalv1.TaskState_TASK_STATE_RUNNING))
		return nil
	})
	return cnt
}

func taskIDs(ts []*shoalv1.Task) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.GetId())
	}
	return ids
}

func status(state shoalv1.TaskState, msg string) *shoalv1.TaskStatus {
	return &shoalv1.TaskStatus{State: state, Message: msg}
}

func report(h *harness, c shoalv1connect.DispatcherServiceClient, sess string, ups ...*shoalv1.TaskStatusUpdate) error {
	_, err := c.UpdateTaskStatus(h.ctx, connect.NewRequest(&shoalv1.UpdateTaskStatusRequest{SessionId: sess, Updates: ups}))
	return err
}

func upd(id string, st *shoalv1.TaskStatus) *shoalv1.TaskStatusUpdate {
	return &shoalv1.TaskStatusUpdate{TaskId: id, Status: st}
}

var _ = proto.Equal
