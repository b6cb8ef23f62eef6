package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/dispatcher"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/sim"
)

const (
	stRunning  = shoalv1.TaskState_TASK_STATE_RUNNING
	stComplete = shoalv1.TaskState_TASK_STATE_COMPLETE
	stFailed   = shoalv1.TaskState_TASK_STATE_FAILED
	stRejected = shoalv1.TaskState_TASK_STATE_REJECTED
	stShutdown = shoalv1.TaskState_TASK_STATE_SHUTDOWN
)

// simSetup starts a manager and an agent with a sim backend on a manual
// clock that moves 10 ms per real millisecond.
func simSetup(t *testing.T, scfg sim.Config) (*manager, *sim.Backend) {
	t.Helper()
	m := newManager(t, dispatcher.Config{})
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := simBackend(t, clock, scfg)
	autoAdvance(t, clock, 10*time.Millisecond)
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, StateDir: t.TempDir(), Clock: agentClock{clock}})
	return m, b
}

func TestRunsAssignmentsToRunning(t *testing.T) {
	m, b := simSetup(t, sim.Config{StartLatency: 2 * time.Second})
	var ids []string
	for i := range 20 {
		id := fmt.Sprintf("task%02d", i)
		ids = append(ids, id)
		m.create(t, processTask(id, "n1", "sleep", "60"))
	}
	m.create(t, processTask("elsewhere", "n2", "sleep", "60"))
	poll.Until(t, "node READY", func() bool {
		n := m.node("n1")
		return n.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY && n.GetDescription().GetBackend() == "sim"
	})
	poll.Until(t, "all RUNNING", func() bool {
		for _, id := range ids {
			if m.state(id) != stRunning {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		if st := m.task(id).GetStatus(); st.GetPid() == 0 || st.GetMessage() != "started" {
			t.Fatalf("%s status = %v", id, st)
		}
	}
	if b.Len() != len(ids) {
		t.Fatalf("backend holds %d tasks", b.Len())
	}
	if s := m.state("elsewhere"); s != shoalv1.TaskState_TASK_STATE_ASSIGNED {
		t.Fatalf("other node's task moved to %v", s)
	}
}

func TestFailureReportedWithExitCode(t *testing.T) {
	m, _ := simSetup(t, sim.Config{FailureRate: 1, FailAfter: time.Second})
	m.create(t, processTask("bad", "n1", "false"))
	poll.Until(t, "FAILED", func() bool { return m.state("bad") == stFailed })
	st := m.task("bad").GetStatus()
	if st.GetExitCode() != 1 || st.GetErr() != "task: non-zero exit (1)" {
		t.Fatalf("status = %v", st)
	}
}

func TestCompleteTask(t *testing.T) {
	m, _ := simSetup(t, sim.Config{RunTime: 5 * time.Second})
	m.create(t, processTask("job", "n1", "true"))
	poll.Until(t, "COMPLETE", func() bool { return m.state("job") == stComplete })
	if st := m.task("job").GetStatus(); st.GetExitCode() != 0 || st.GetErr() != "" {
		t.Fatalf("status = %v", st)
	}
}

func TestRejectedWhenPrepareFails(t *testing.T) {
	m, _ := simSetup(t, sim.Config{Prepare: func(s *runtime.TaskSpec) error {
		return fmt.Errorf("pull %s: %w", s.Image, runtime.ErrImageNotFound)
	}})
	tk := processTask("img", "n1")
	tk.Spec = &shoalv1.TaskSpec{Runtime: &shoalv1.TaskSpec_Container{Container: &shoalv1.ContainerSpec{Image: "127.0.0.1:5000/nope:latest"}}}
	m.create(t, tk)
	poll.Until(t, "REJECTED", func() bool { return m.state("img") == stRejected })
	if e := m.task("img").GetStatus().GetErr(); !strings.Contains(e, "nope:latest") || !strings.Contains(e, "image not found") {
		t.Fatalf("err = %q", e)
	}
	// A spec without a runtime is rejected too.
	m.create(t, &shoalv1.Task{Id: "empty", NodeId: "n1", DesiredState: stRunning, Status: &shoalv1.TaskStatus{State: shoalv1.TaskState_TASK_STATE_ASSIGNED}})
	poll.Until(t, "empty REJECTED", func() bool { return m.state("empty") == stRejected })
}

func TestShutdownAndRemove(t *testing.T) {
	m, b := simSetup(t, sim.Config{})
	m.create(t, processTask("web", "n1", "sleep", "60"))
	poll.Until(t, "RUNNING", func() bool { return m.state("web") == stRunning })
	m.update(t, "web", func(tk *shoalv1.Task) { tk.DesiredState = stShutdown })
	poll.Until(t, "SHUTDOWN", func() bool { return m.state("web") == stShutdown })
	if st := inspect(t, b, "web"); st.State != runtime.StateExited {
		t.Fatalf("backend state after shutdown = %v", st.State)
	}
	m.remove(t, "web")
	poll.Until(t, "removed from the backend", func() bool { return b.Len() == 0 })
}

func TestRemoveRunningTaskStopsIt(t *testing.T) {
	m, b := simSetup(t, sim.Config{})
	m.create(t, processTask("web", "n1", "sleep", "60"))
	poll.Until(t, "RUNNING", func() bool { return m.state("web") == stRunning })
	m.update(t, "web", func(tk *shoalv1.Task) { tk.DesiredState = shoalv1.TaskState_TASK_STATE_REMOVE })
	poll.Until(t, "removed from the backend", func() bool { return b.Len() == 0 })
}

func TestProcessTaskFailsWithExitCode(t *testing.T) {
	m := newManager(t, dispatcher.Config{})
	b := processBackend(t, t.TempDir())
	t.Cleanup(func() { b.Close() })
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, StateDir: t.TempDir()})
	m.create(t, processTask("exit3", "n1", "/bin/sh", "-c", "exit 3"))
	poll.Until(t, "FAILED", func() bool { return m.state("exit3") == stFailed })
	if st := m.task("exit3").GetStatus(); st.GetExitCode() != 3 || st.GetErr() != "task: non-zero exit (3)" {
		t.Fatalf("status = %v", st)
	}
}

func TestRestartReadoptsRunningProcess(t *testing.T) {
	m := newManager(t, dispatcher.Config{})
	backendDir, stateDir := t.TempDir(), t.TempDir()
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	cfg := func(b runtime.Backend) Config {
		return Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, StateDir: stateDir}
	}

	b1 := processBackend(t, backendDir)
	stop1 := startAgent(t, cfg(b1))
	m.create(t, processTask("svc1", "n1", "sleep", "120"))
	poll.Until(t, "RUNNING", func() bool { return m.state("svc1") == stRunning })
	pid := m.task("svc1").GetStatus().GetPid()
	if pid == 0 {
		t.Fatal("no pid reported")
	}
	stop1()
	b1.Close()

	// While the agent is away, something else leaves an unassigned task in
	// the backend: an orphan the next agent must remove.
	bx := processBackend(t, backendDir)
	orphan, err := bx.Controller(&runtime.TaskSpec{TaskID: "orphan", Kind: runtime.KindProcess, Command: []string{"sleep", "120"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := orphan.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	bx.Close()

	b2 := processBackend(t, backendDir)
	t.Cleanup(func() {
		for _, id := range []string{"svc1", "orphan"} {
			if c, err := b2.Controller(&runtime.TaskSpec{TaskID: id, Kind: runtime.KindProcess, Command: []string{"true"}}); err == nil {
				_ = c.Stop(context.Background(), time.Second)
				_ = c.Remove(context.Background())
			}
		}
		b2.Close()
	})
	startAgent(t, cfg(b2))
	poll.Until(t, "orphan removed", func() bool {
		ids, _ := b2.List(context.Background())
		return !slices.Contains(ids, "orphan")
	})
	// Give the new agent time to (wrongly) restart the task, then check it did not.
	time.Sleep(500 * time.Millisecond)
	st := inspect(t, b2, "svc1")
	if st.State != runtime.StateRunning || uint32(st.Pid) != pid {
		t.Fatalf("after restart: state %v pid %d, want running pid %d", st.State, st.Pid, pid)
	}
	if s := m.task("svc1").GetStatus(); s.GetState() != stRunning || s.GetPid() != pid {
		t.Fatalf("store status after restart = %v", s)
	}
	// The adopted task is still managed: shutting it down works.
	m.update(t, "svc1", func(tk *shoalv1.Task) { tk.DesiredState = stShutdown })
	poll.Until(t, "SHUTDOWN", func() bool { return m.state("svc1") == stShutdown })
	if st := inspect(t, b2, "svc1"); st.State != runtime.StateExited {
		t.Fatalf("after shutdown: %v", st.State)
	}
}

// recordingClock is a manual clock that records the delays asked of it.
type recordingClock struct {
	*sim.ManualClock
	mu     sync.Mutex
	delays []time.Duration
}

func (c *recordingClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	c.delays = append(c.delays, d)
	c.mu.Unlock()
	return c.ManualClock.AfterFunc(d, f)
}

func (c *recordingClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.delays)
}

func TestBackoffWhenNoManagerAnswers(t *testing.T) {
	clock := &recordingClock{ManualClock: sim.NewManualClock(time.Unix(0, 0))}
	b := simBackend(t, clock.ManualClock, sim.Config{})
	// Nothing listens on these ports.
	cl := newClients(t, "n1", nil)
	managers := []string{"127.0.0.1:1", "127.0.0.1:2"}
	minB, maxB := 100*time.Millisecond, 2*time.Second
	startAgent(t, Config{NodeID: "n1", Managers: managers, Client: cl.client, Backend: b, Clock: clock,
		MinBackoff: minB, MaxBackoff: maxB, Rand: rand.New(rand.NewPCG(7, 7))})
	attempts := func() int { return cl.count(managers[0]) + cl.count(managers[1]) }
	for i := range 8 {
		poll.Until(t, fmt.Sprintf("attempt %d", i+1), func() bool { return attempts() == i+1 && len(clock.recorded()) == i+1 })
		// No new attempt until the clock moves.
		time.Sleep(20 * time.Millisecond)
		if n := attempts(); n != i+1 {
			t.Fatalf("attempt %d made without waiting (attempts %d)", i+1, n)
		}
		d := clock.recorded()[i]
		want := min(minB<<i, maxB)
		if d < want/2 || d > want {
			t.Fatalf("delay %d = %v, want in [%v, %v]", i, d, want/2, want)
		}
		if i < 7 { // the last advance would start a ninth attempt and race the count below
			clock.Advance(d)
		}
	}
	// Managers are tried in turn.
	if cl.count(managers[0]) != 4 || cl.count(managers[1]) != 4 {
		t.Fatalf("attempts per manager: %d, %d", cl.count(managers[0]), cl.count(managers[1]))
	}
}

func TestBackoffBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for n := range 40 {
		for range 50 {
			d := backoff(n, 100*time.Millisecond, 10*time.Second, r)
			want := 100 * time.Millisecond
			for i := 0; i < n && want < 10*time.Second; i++ {
				want *= 2
			}
			want = min(want, 10*time.Second)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v", n, d)
			}
		}
	}
}

func TestFollowsLeaderRedirect(t *testing.T) {
	leader := newManager(t, dispatcher.Config{})
	follower := newManager(t, dispatcher.Config{IsLeader: func() bool { return false }, LeaderAddr: func() string { return "leader:1" }})
	cl := newClients(t, "n1", map[string]string{"follower:1": follower.srv.URL, "leader:1": leader.srv.URL})
	clock := sim.NewManualClock(time.Unix(0, 0))
	b := simBackend(t, clock, sim.Config{})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"follower:1"}, Client: cl.client, Backend: b})
	poll.Until(t, "node READY on the leader", func() bool {
		return leader.node("n1").GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY
	})
	if follower.node("n1") != nil {
		t.Fatal("follower registered the node")
	}
}

func TestVersionRefused(t *testing.T) {
	m := newManager(t, dispatcher.Config{Version: "0.3.0"})
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	b := simBackend(t, sim.NewManualClock(time.Unix(0, 0)), sim.Config{})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, Version: "0.1.0", MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	poll.Until(t, "a few refused attempts", func() bool { return cl.count("m1") >= 3 })
	if m.node("n1") != nil {
		t.Fatal("node registered despite the version mismatch")
	}
}

func TestLogsEndToEnd(t *testing.T) {
	m := newManager(t, dispatcher.Config{})
	b := processBackend(t, t.TempDir())
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, StateDir: t.TempDir()})
	t.Cleanup(func() {
		if c, err := b.Controller(&runtime.TaskSpec{TaskID: "talker", Kind: runtime.KindProcess, Command: []string{"true"}}); err == nil {
			_ = c.Remove(context.Background())
		}
		b.Close()
	})
	m.create(t, processTask("talker", "n1", "/bin/sh", "-c", "echo hello; echo world >&2; sleep 120"))
	poll.Until(t, "RUNNING", func() bool { return m.state("talker") == stRunning })
	poll.Until(t, "output written", func() bool {
		c, _ := b.Controller(&runtime.TaskSpec{TaskID: "talker"})
		ch := make(chan runtime.LogLine, 16)
		_ = c.Logs(context.Background(), runtime.LogOptions{Tail: -1}, ch)
		return len(ch) >= 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lines, err := m.d.SubscribeLogs(ctx, map[string][]string{"n1": {"talker"}}, false, -1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for l := range lines {
		if l.GetTaskId() != "talker" || l.GetNodeId() != "n1" {
			t.Fatalf("line = %v", l)
		}
		got = append(got, l.GetStream()+":"+strings.TrimSpace(string(l.GetData())))
	}
	if ctx.Err() != nil {
		t.Fatal("subscription did not end by itself")
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"stderr:world", "stdout:hello"}) {
		t.Fatalf("lines = %q", got)
	}
	if _, err := m.d.SubscribeLogs(ctx, map[string][]string{"nobody": {"x"}}, false, -1); !errors.Is(err, dispatcher.ErrNoNodesConnected) {
		t.Fatalf("err = %v", err)
	}
}

// A node removed from the cluster (its calls fail with NodeRemovedError)
// removes all its tasks and Run returns ErrNodeRemoved, as a swarm node
// leaving.
func TestRemovedNodeRemovesItsTasks(t *testing.T) {
	m := newManager(t, dispatcher.Config{})
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := simBackend(t, clock, sim.Config{})
	autoAdvance(t, clock, 10*time.Millisecond)
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	a, err := New(Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, StateDir: t.TempDir(), Clock: agentClock{clock}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for i := range 3 {
		m.create(t, processTask(fmt.Sprintf("t%d", i), "n1", "sleep", "60"))
	}
	poll.Until(t, "RUNNING", func() bool {
		return m.state("t0") == stRunning && m.state("t1") == stRunning && m.state("t2") == stRunning
	})
	m.removed.Store("n1", true)
	select {
	case err := <-done:
		if !errors.Is(err, ErrNodeRemoved) {
			t.Fatalf("Run = %v, want ErrNodeRemoved", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("agent kept running after the node was removed")
	}
	if n := b.Len(); n != 0 {
		t.Fatalf("backend still holds %d tasks", n)
	}
}
