package main

import (
	"context"
	"errors"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/node"
)

func TestMain(m *testing.M) {
	node.ReexecHooks()
	maybeRunManager()
	os.Exit(m.Run())
}

func testLogger() *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestScaleSmall is the benchmark at a size CI can afford: 3 managers,
// 12 simulated nodes over real mTLS, 400 tasks (it was 50 x 2,000: ~100 s
// under -race, near CI's budget; what it checks does not need the size).
// It checks that every task runs, the API agrees, and the scheduling took
// a handful of proposals rather than one per task. No timing is asserted.
func TestScaleSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 managers and 12 agents")
	}
	const managers, nodes, tasks = 3, 12, 400
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Managers: managers, Nodes: nodes, Tasks: tasks,
		Dir:             t.TempDir(),
		MaxStartLatency: 20 * time.Millisecond,
		Timeout:         3 * time.Minute,
		AgentsNice:      10,
		Logger:          testLogger(),
		Progress:        func(s string) { t.Log(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.APIRunning != tasks {
		t.Errorf("GetService running_tasks = %d, want %d", res.APIRunning, tasks)
	}
	if res.FailedTasks != 0 {
		t.Errorf("%d tasks failed or were rejected", res.FailedTasks)
	}
	if res.AllCreated == 0 || res.AllAssigned < res.AllCreated || res.AllRunning < res.AllAssigned {
		t.Errorf("phases out of order: created %v, assigned %v, running %v", res.AllCreated, res.AllAssigned, res.AllRunning)
	}
	// Creating, scheduling and starting the tasks is batched: status
	// writes are flushed per interval, not per task. A generous bound that
	// still catches one proposal per task (>= tasks just for creation).
	if res.LeaderChanges == 0 && res.ServiceProposals > tasks/2 {
		t.Errorf("service phase used %d proposals for %d tasks, want far fewer", res.ServiceProposals, tasks)
	}
	// The managers ran in processes of their own, each measured apart
	// from the simulated nodes' (this, niced) process.
	if len(res.ManagerProcs) != managers {
		t.Fatalf("%d manager results, want %d", len(res.ManagerProcs), managers)
	}
	pids := map[int]bool{os.Getpid(): true}
	leaders := 0
	for _, m := range res.ManagerProcs {
		if pids[m.PID] {
			t.Errorf("manager-%d runs in pid %d, shared with another manager or the nodes", m.Index, m.PID)
		}
		pids[m.PID] = true
		if m.PeakRSS == 0 || m.RSS == 0 || m.CPU <= 0 || m.PeakHeap == 0 {
			t.Errorf("manager-%d not measured: %+v", m.Index, m)
		}
		if m.Leader {
			leaders++
		}
	}
	if leaders != 1 || res.HeapInuse == 0 || res.Leader().PID == 0 {
		t.Errorf("want one leader with memstats, got %d leaders, heap %d", leaders, res.HeapInuse)
	}
	if res.AgentsNice != 10 {
		t.Errorf("simulated nodes' process at nice %d, want 10", res.AgentsNice)
	}
}

// TestScaleTimeoutStillMeasures: a run that cannot finish in its timeout
// still reports each manager process's memory and CPU.
func TestScaleTimeoutStillMeasures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 managers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Managers: 3, Nodes: 3, Tasks: 20000, Dir: t.TempDir(),
		Timeout: time.Second, Logger: testLogger(), Progress: func(s string) { t.Log(s) },
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout", err)
	}
	if res.CreateCall == 0 || len(res.ManagerProcs) != 3 {
		t.Fatalf("a timed-out run reported %d manager processes (create call %v), want 3", len(res.ManagerProcs), res.CreateCall)
	}
	for _, m := range res.ManagerProcs {
		if m.PeakRSS == 0 || m.CPU <= 0 {
			t.Errorf("manager-%d not measured: %+v", m.Index, m)
		}
	}
}

func TestParsePoints(t *testing.T) {
	got, err := parsePoints(sweepPoints)
	if err != nil || len(got) != 4 || got[3] != (point{5000, 200000}) {
		t.Fatalf("parsePoints(%q) = %v, %v", sweepPoints, got, err)
	}
	for _, bad := range []string{"", "600", "600x", "x5", "0x5", "6x-1", "600x25000,"} {
		if _, err := parsePoints(bad); !errors.Is(err, errBadPoints) {
			t.Errorf("parsePoints(%q) err = %v, want errBadPoints", bad, err)
		}
	}
}

// TestChart draws the sweep chart from made-up results and checks it is a
// PNG of the expected size.
func TestChart(t *testing.T) {
	var rs []Result
	for i, n := range []int{600, 1200, 2400} {
		rs = append(rs, Result{Nodes: n, Tasks: n * 41, AllRunning: time.Duration(10*(i+1)) * time.Second,
			ManagerProcs: []ManagerResult{{Leader: true, RSS: uint64(n) << 18, PeakRSS: uint64(n) << 19}, {}}})
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := writeChart(path, rs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width < 500 || cfg.Height < 200 {
		t.Errorf("chart is %dx%d", cfg.Width, cfg.Height)
	}
	if err := writeChart(path, []Result{{Nodes: 5}}); !errors.Is(err, errNoPoints) {
		t.Errorf("chart of an unfinished run: err = %v, want errNoPoints", err)
	}
}

func TestConfigRejectsEmpty(t *testing.T) {
	for _, c := range []Config{{Nodes: 0, Tasks: 10}, {Nodes: 10, Tasks: 0}, {Nodes: -1, Tasks: -1}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("Run(%+v) = nil error, want one", c)
		}
	}
}

// BenchmarkScale runs the scale benchmark once per iteration and reports
// its phases. Size it with SHOAL_SCALE_NODES and SHOAL_SCALE_TASKS (default
// 200 nodes, 10,000 tasks); the full swarm2k size is
// 'go run ./bench/scale -nodes 2400 -tasks 100000'.
func BenchmarkScale(b *testing.B) {
	nodes, tasks := envInt(b, "SHOAL_SCALE_NODES", 200), envInt(b, "SHOAL_SCALE_TASKS", 10000)
	for i := 0; i < b.N; i++ {
		res, err := Run(context.Background(), Config{
			Managers: 3, Nodes: nodes, Tasks: tasks, Dir: b.TempDir(),
			MaxStartLatency: 50 * time.Millisecond, Logger: testLogger(),
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.AllRunning.Seconds(), "s-to-running")
		b.ReportMetric(res.AllAssigned.Seconds(), "s-to-assigned")
		b.ReportMetric(res.TasksPerSec, "tasks/s")
		b.ReportMetric(float64(res.ServiceProposals), "proposals")
		b.ReportMetric(float64(res.HeapInuse)/(1<<20), "leader-heap-MiB")
		b.ReportMetric(float64(res.Leader().PeakRSS)/(1<<20), "leader-peak-rss-MiB")
		b.ReportMetric(float64(res.LeaderChanges), "leader-changes")
	}
}

func envInt(tb testing.TB, key string, def int) int {
	tb.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	var n int
	for _, c := range v {
		if c < '0' || c > '9' {
			tb.Fatalf("%s=%q: want a number", key, v)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// TestServiceSizes: more tasks than one service may have (the API's
// replica limit) are split into as few equal services as it takes.
func TestServiceSizes(t *testing.T) {
	for _, tc := range []struct {
		tasks int
		want  []int
	}{
		{400, []int{400}},
		{100000, []int{100000}},
		{200000, []int{100000, 100000}},
		{250001, []int{83334, 83334, 83333}},
	} {
		if got := serviceSizes(tc.tasks); !slices.Equal(got, tc.want) {
			t.Errorf("serviceSizes(%d) = %v, want %v", tc.tasks, got, tc.want)
		}
	}
}
