package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	goruntime "runtime"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/runtime"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSim(t testing.TB, cfg Config) (*Backend, *ManualClock) {
	t.Helper()
	clk := NewManualClock(t0)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, clk
}

func procSpec(id string) *runtime.TaskSpec {
	return &runtime.TaskSpec{TaskID: id, Kind: runtime.KindProcess, Command: []string{"/bin/app", "--serve"}}
}

func mustController(t testing.TB, b *Backend, spec *runtime.TaskSpec) runtime.Controller {
	t.Helper()
	c, err := b.Controller(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startedTask starts process task t1 on a new simulator.
func startedTask(t *testing.T) (*Backend, runtime.Controller, context.Context) {
	t.Helper()
	b, _ := newSim(t, Config{})
	ctx := ctxT(t)
	c := mustController(t, b, procSpec("t1"))
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return b, c, ctx
}

// waitInBackground calls c.Wait in a goroutine and gives its error; it
// returns once the goroutine has had time to block in Wait.
func waitInBackground(ctx context.Context, c runtime.Controller) <-chan error {
	errc := make(chan error, 1)
	go func() { _, err := c.Wait(ctx); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	return errc
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{FailureRate: -0.1}, {FailureRate: 1.5}, {RunTime: -time.Second}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestControllerValidation(t *testing.T) {
	b, _ := newSim(t, Config{})
	tests := []struct {
		name string
		spec *runtime.TaskSpec
		want error
	}{
		{"nil", nil, runtime.ErrInvalidSpec},
		{"no id", &runtime.TaskSpec{Kind: runtime.KindProcess, Command: []string{"x"}}, runtime.ErrInvalidSpec},
		{"unknown kind", &runtime.TaskSpec{TaskID: "a", Kind: "vm"}, runtime.ErrUnsupported},
		{"process without command", &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindProcess}, runtime.ErrInvalidSpec},
		{"container without image", &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindContainer}, runtime.ErrInvalidSpec},
		{"process ok", procSpec("a"), nil},
		{"container ok", &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindContainer, Image: "busybox"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Controller(tt.spec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPrepareHook(t *testing.T) {
	b, _ := newSim(t, Config{Prepare: func(s *runtime.TaskSpec) error {
		if s.Image == "nope:latest" {
			return fmt.Errorf("pull %s: %w", s.Image, runtime.ErrImageNotFound)
		}
		return nil
	}})
	c := mustController(t, b, &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindContainer, Image: "nope:latest"})
	err := c.Prepare(ctxT(t))
	if !errors.Is(err, runtime.ErrImageNotFound) {
		t.Fatalf("prepare = %v", err)
	}
	if ids, _ := b.List(ctxT(t)); len(ids) != 0 {
		t.Fatalf("failed prepare left a task: %v", ids)
	}
}

func TestLifecycleOnManualClock(t *testing.T) {
	b, clk := newSim(t, Config{StartLatency: 2 * time.Second, RunTime: 10 * time.Second})
	ctx := ctxT(t)
	c := mustController(t, b, procSpec("t1"))
	if err := c.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Inspect(ctx); st.State != runtime.StateCreated {
		t.Fatalf("after prepare: %+v", st)
	}
	started := make(chan error, 1)
	go func() { started <- c.Start(ctx) }()
	poll.Until(t, "start to arm its timer", func() bool { return clk.Pending() == 1 })
	clk.Advance(time.Second)
	select {
	case err := <-started:
		t.Fatalf("start returned before the latency: %v", err)
	default:
	}
	if st, _ := c.Inspect(ctx); st.State != runtime.StateCreated {
		t.Fatalf("while starting: %+v", st)
	}
	clk.Advance(time.Second)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	st, _ := c.Inspect(ctx)
	if st.State != runtime.StateRunning || st.Pid == 0 || !st.StartedAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("running: %+v", st)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers armed for a running task nobody waits on", clk.Pending())
	}
	waited := make(chan runtime.Status, 1)
	go func() { st, _ := c.Wait(ctx); waited <- st }()
	poll.Until(t, "wait to arm its timer", func() bool { return clk.Pending() == 1 })
	clk.Advance(10 * time.Second)
	st = <-waited
	if st.State != runtime.StateExited || st.ExitCode != ExitCompleted || !st.FinishedAt.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("exited: %+v", st)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start again: %v", err)
	}
	if st2, _ := c.Inspect(ctx); st2.State != runtime.StateExited || st2.Pid != st.Pid {
		t.Fatalf("second start restarted the task: %+v", st2)
	}
}

func TestStopAndRemove(t *testing.T) {
	b, c, ctx := startedTask(t)
	waited := make(chan runtime.Status, 1)
	go func() { st, _ := c.Wait(ctx); waited <- st }()
	if err := c.Stop(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if st := <-waited; st.State != runtime.StateExited || st.ExitCode != ExitStopped {
		t.Fatalf("wait after stop: %+v", st)
	}
	if err := c.Stop(ctx, time.Second); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if ids, _ := b.List(ctx); len(ids) != 1 || ids[0] != "t1" {
		t.Fatalf("list = %v", ids)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Inspect(ctx); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
	if _, err := c.Wait(ctx); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("wait after remove: %v", err)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func TestRemoveWakesWaiter(t *testing.T) {
	_, c, ctx := startedTask(t)
	errc := waitInBackground(ctx, c)
	_ = c.Remove(ctx)
	if err := <-errc; !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("wait = %v", err)
	}
}

func TestCloseWakesWaiters(t *testing.T) {
	b, c, ctx := startedTask(t)
	errc := waitInBackground(ctx, c)
	b.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("wait = %v", err)
	}
	if _, err := b.Controller(procSpec("t2")); !errors.Is(err, ErrClosed) {
		t.Fatalf("controller after close: %v", err)
	}
}

func TestAttachToExistingTask(t *testing.T) {
	b, c, ctx := startedTask(t)
	pid := func(c runtime.Controller) int { st, _ := c.Inspect(ctx); return st.Pid }
	c2 := mustController(t, b, &runtime.TaskSpec{TaskID: "t1"}) // ID only
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if pid(c) != pid(c2) {
		t.Fatal("attach started a second task")
	}
}

func failedSet(t *testing.T, seed uint64, ids []string) map[string]bool {
	b, clk := newSim(t, Config{FailureRate: 0.3, RunTime: time.Hour, Rand: rand.New(rand.NewPCG(seed, 7))})
	ctx := ctxT(t)
	for _, id := range ids {
		if err := mustController(t, b, procSpec(id)).Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	failed := map[string]bool{}
	for _, id := range ids {
		st, _ := mustController(t, b, procSpec(id)).Inspect(ctx)
		if st.State == runtime.StateExited {
			if st.ExitCode != ExitFailed {
				t.Fatalf("%s: %+v", id, st)
			}
			failed[id] = true
		}
	}
	return failed
}

func TestFailureRateIsDeterministic(t *testing.T) {
	const n = 10000
	ids := make([]string, n)
	rev := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("task-%d", i)
		rev[n-1-i] = ids[i]
	}
	a := failedSet(t, 1, ids)
	if len(a) < 2700 || len(a) > 3300 {
		t.Fatalf("%d of %d failed, want about 30%%", len(a), n)
	}
	b := failedSet(t, 1, rev) // other start order, same seed
	if !maps.Equal(a, b) {
		t.Fatalf("same seed, other order: %d vs %d failures, not the same tasks", len(a), len(b))
	}
	c := failedSet(t, 2, ids)
	same := 0
	for id := range a {
		if c[id] {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("another seed gave the same failures")
	}
}

func TestFailAfterSpreadsFailures(t *testing.T) {
	b, clk := newSim(t, Config{FailureRate: 1, FailAfter: 10 * time.Second, StartLatency: 0})
	ctx := ctxT(t)
	var cs []runtime.Controller
	for i := range 200 {
		c := mustController(t, b, procSpec(fmt.Sprint(i)))
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	count := func() (n int) {
		for _, c := range cs {
			if st, _ := c.Inspect(ctx); st.State == runtime.StateExited {
				n++
			}
		}
		return n
	}
	clk.Advance(5 * time.Second)
	if n := count(); n < 50 || n > 150 {
		t.Fatalf("%d of 200 failed by half of FailAfter", n)
	}
	clk.Advance(5 * time.Second)
	if n := count(); n != 200 {
		t.Fatalf("%d of 200 failed by FailAfter", n)
	}
}

func TestLogs(t *testing.T) {
	b, clk := newSim(t, Config{RunTime: 10 * time.Second})
	ctx := ctxT(t)
	c := mustController(t, b, &runtime.TaskSpec{TaskID: "web.1", Kind: runtime.KindContainer, Image: "busybox:latest"})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	collect := func(opts runtime.LogOptions) []string {
		out := make(chan runtime.LogLine, 16)
		if err := c.Logs(ctx, opts, out); err != nil {
			t.Fatal(err)
		}
		close(out)
		var s []string
		for ll := range out {
			s = append(s, ll.Stream+":"+string(ll.Data))
		}
		return s
	}
	if got := collect(runtime.LogOptions{Tail: -1}); len(got) != 2 || got[0] != "stdout:starting container task web.1: busybox:latest" {
		t.Fatalf("running logs = %q", got)
	}
	if got := collect(runtime.LogOptions{Tail: 1}); len(got) != 1 {
		t.Fatalf("tail 1 = %q", got)
	}
	if got := collect(runtime.LogOptions{Tail: 0}); len(got) != 0 {
		t.Fatalf("tail 0 = %q", got)
	}

	// Follow gets the exit line when the clock reaches it, then returns.
	out := make(chan runtime.LogLine, 16)
	errc := make(chan error, 1)
	go func() { errc <- c.Logs(ctx, runtime.LogOptions{Follow: true, Tail: 0}, out) }()
	poll.Until(t, "follow to arm its timer", func() bool { return clk.Pending() == 1 })
	clk.Advance(10 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if ll := <-out; string(ll.Data) != "done" || !ll.Time.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("followed %q at %v", ll.Data, ll.Time)
	}
}

func TestManualClockFiresInOrder(t *testing.T) {
	clk := NewManualClock(t0)
	var got []int
	var at []time.Time
	for _, d := range []int{3, 1, 2, 5} {
		clk.AfterFunc(time.Duration(d)*time.Second, func() { got = append(got, d); at = append(at, clk.Now()) })
	}
	stopped := clk.AfterFunc(time.Second, func() { t.Error("stopped timer fired") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report true once")
	}
	clk.Advance(3 * time.Second)
	if fmt.Sprint(got) != "[1 2 3]" || !at[1].Equal(t0.Add(2*time.Second)) {
		t.Fatalf("fired %v at %v", got, at)
	}
	if clk.Pending() != 1 || !clk.Now().Equal(t0.Add(3*time.Second)) {
		t.Fatalf("pending %d now %v", clk.Pending(), clk.Now())
	}
}

// TestStatesOnlyMoveForward drives one task with random operations and checks
// that its state never goes back and that an exit, once seen, never changes.
func TestStatesOnlyMoveForward(t *testing.T) {
	rank := map[runtime.State]int{runtime.StateCreated: 0, runtime.StateRunning: 1, runtime.StateExited: 2}
	rapid.Check(t, func(rt *rapid.T) {
		clk := NewManualClock(t0)
		b, err := New(Config{
			Clock:        clk,
			StartLatency: time.Duration(rapid.IntRange(0, 5).Draw(rt, "latency")) * time.Second,
			RunTime:      time.Duration(rapid.IntRange(0, 20).Draw(rt, "runtime")) * time.Second,
			FailureRate:  rapid.Float64Range(0, 1).Draw(rt, "failrate"),
			FailAfter:    time.Duration(rapid.IntRange(0, 20).Draw(rt, "failafter")) * time.Second,
			Rand:         rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 0)),
		})
		if err != nil {
			rt.Fatal(err)
		}
		defer b.Close()
		ctx := context.Background()
		c, _ := b.Controller(procSpec("t"))
		_ = c.Prepare(ctx)
		last := runtime.Status{State: runtime.StateCreated}
		started := false
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0:
				clk.Advance(time.Duration(rapid.IntRange(0, 4000).Draw(rt, "ms")) * time.Millisecond)
			case 1:
				if !started {
					started = true
					sctx, cancel := context.WithCancel(ctx)
					cancel() // do not block on latency; the task starts anyway
					_ = c.Start(sctx)
				}
			case 2:
				_ = c.Stop(ctx, time.Second)
			}
			st, err := c.Inspect(ctx)
			if err != nil {
				rt.Fatal(err)
			}
			if rank[st.State] < rank[last.State] {
				rt.Fatalf("state went back: %v -> %v", last.State, st.State)
			}
			if last.State == runtime.StateExited && (st.ExitCode != last.ExitCode || !st.FinishedAt.Equal(last.FinishedAt)) {
				rt.Fatalf("exit changed: %+v -> %+v", last, st)
			}
			last = st
		}
	})
}

// TestScale100kTasksOn2400Backends checks the scale-test target: 100,000
// tasks over 2,400 backends on one clock, with no timers while nobody waits.
func TestScale100kTasksOn2400Backends(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	const nodes, tasks = 2400, 100_000
	clk := NewManualClock(t0)
	seed := rand.New(rand.NewPCG(42, 42))
	backends := make([]*Backend, nodes)
	for i := range backends {
		b, err := New(Config{Name: fmt.Sprintf("node-%d", i), Clock: clk, Rand: seed, RunTime: time.Hour, FailureRate: 0.01})
		if err != nil {
			t.Fatal(err)
		}
		backends[i] = b
	}
	var before goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	ctx := ctxT(t)
	specs := make([]runtime.TaskSpec, tasks)
	for i := range specs {
		specs[i] = runtime.TaskSpec{TaskID: fmt.Sprintf("task-%06d", i), Kind: runtime.KindContainer, Image: "busybox"}
		c, err := backends[i%nodes].Controller(&specs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap for %d tasks: %.1f MB (%d B/task, incl. specs)", tasks, float64(heap)/1e6, heap/tasks)
	if heap > 200<<20 {
		t.Fatalf("heap grew %d MB", heap>>20)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers armed with nobody waiting", clk.Pending())
	}
	clk.Advance(time.Hour)
	exited, failed := 0, 0
	for i := range specs {
		c, _ := backends[i%nodes].Controller(&specs[i])
		st, err := c.Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == runtime.StateExited {
			exited++
			if st.ExitCode == ExitFailed {
				failed++
			}
		}
	}
	if exited != tasks || failed < 700 || failed > 1300 {
		t.Fatalf("exited %d failed %d", exited, failed)
	}
}

// BenchmarkStart100k prepares and starts 100,000 tasks spread over 2,400
// backends (one op = all 100k).
func BenchmarkStart100k(b *testing.B) {
	const nodes, tasks = 2400, 100_000
	specs := make([]runtime.TaskSpec, tasks)
	for i := range specs {
		specs[i] = runtime.TaskSpec{TaskID: fmt.Sprintf("task-%06d", i), Kind: runtime.KindProcess, Command: []string{"app"}}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		clk := NewManualClock(t0)
		backends := make([]*Backend, nodes)
		for i := range backends {
			backends[i], _ = New(Config{Clock: clk, RunTime: time.Hour, FailureRate: 0.01})
		}
		b.StartTimer()
		for i := range specs {
			c, err := backends[i%nodes].Controller(&specs[i])
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tasks), "ns/task")
}
