package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shoal-project/shoal/core/pluginmgr"
	"github.com/shoal-project/shoal/core/scheduler"
	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/endpoint"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

// shadowCallTimeout is the plugin host's default call timeout: a shadow
// on the pass's critical path would hold a looping guest's pass this long.
const shadowCallTimeout = 5 * time.Second

// TestShadowScheduler runs spread as the active scheduler and binpack as
// its shadow, checks that the shadow report's counts are those of a native
// comparison of the two policies on the same node tables, then shadows
// hostile guests and checks that placements and API latency do not change.
func TestShadowScheduler(t *testing.T) {
	guests := buildWasm(t, t.TempDir(),
		wasmBuild{"loop", "./plugins/testdata/hostile/loop"},
		wasmBuild{"panic", "./plugins/testdata/hostile/panic"},
	)
	c := newCluster(t)
	m1 := c.init("m1")
	for _, w := range []string{"w1", "w2", "w3"} {
		c.plWorker(w, m1)
	}
	cl := m1.apiClient(t, false).Control
	eventually(t, waitTimeout, "3 workers ready", func() error {
		nodes, _ := shadowSnapshot(t, cl)
		ready := 0
		for _, n := range nodes {
			if n.GetRole() == shoalv1.NodeRole_NODE_ROLE_WORKER && n.GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY {
				ready++
			}
		}
		if ready != 3 {
			return fmt.Errorf("%d workers ready", ready)
		}
		return nil
	})

	// Install the hostile guests first: every manager compiles an
	// installed module, which would otherwise weigh on the timings below.
	for _, g := range []string{"loop", "panic"} {
		mustRun(t, "--data-dir", m1.dir, "plugin", "install", "shadow-"+g, guests[g], "--kind", "scheduler")
	}
	// Without a shadow: the placement time and API latency to compare with.
	// The first placement starts the spread plugin's sandbox: warm it first.
	createAndCompare(t, m1, cl, "warm-up", 1)
	probe := startProbe(t, m1)
	_, baseline := createAndCompare(t, m1, cl, "unshadowed", 3)
	time.Sleep(time.Second) // some more calls to compare with
	probe.finish()
	baseLat := percentile(probe.lat, 100)

	for _, bad := range []struct{ args, stderr string }{
		{"plugin shadow", "give the scheduler plugin to shadow"},
		{"plugin shadow ipam", "only a scheduler plugin can shadow"},
		{"plugin shadow no-such", "no-such"},
		{"plugin shadow binpack --for no-such-service", "no-such-service"},
	} {
		r := m1.cli(t, strings.Fields(bad.args)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, bad.stderr) {
			t.Errorf("shoal %s: want a failure naming %q: %s", bad.args, bad.stderr, r)
		}
	}
	out := mustRun(t, "--data-dir", m1.dir, "plugin", "shadow", "binpack")
	if !strings.Contains(out, "Shadow scheduler: binpack") {
		t.Fatalf("plugin shadow binpack printed %q", out)
	}
	// Other cluster settings leave the shadow setting as it is.
	mustRun(t, "--data-dir", m1.dir, "cluster", "update", "--task-history-limit", "7")
	if gc, err := m1.apiClient(t, false).Control.GetCluster(context.Background(), connect.NewRequest(&shoalv1.GetClusterRequest{})); err != nil {
		t.Fatal(err)
	} else if sp := gc.Msg.GetCluster().GetSpec(); sp.GetShadowScheduler() != "binpack" || sp.GetTaskHistoryLimit() != 7 {
		t.Errorf("after cluster update: spec %v, want binpack shadowing and a history limit of 7", sp)
	}
	var want pluginmgr.Difference
	var differing uint64
	for i, n := range []int{3, 2, 4} {
		d, _ := createAndCompare(t, m1, cl, fmt.Sprintf("packed-%d", i), n)
		want.Moved += d.Moved
		want.Unplaced += d.Unplaced
		if d.Moved+d.Unplaced > 0 {
			differing++
		}
		// One pass at a time: the shadow drops calls while it is busy
		// (a cold sandbox takes seconds to start), and drops are not
		// compared. Each service is one pass.
		waitShadowReport(t, cl, "binpack", func(r *shoalv1.ShadowReport) bool { return r.GetPasses() > uint64(i) })
	}
	if want.Moved == 0 {
		t.Fatalf("spread and binpack agree on every pass here: the test shows nothing")
	}
	r := waitShadowReport(t, cl, "binpack", func(r *shoalv1.ShadowReport) bool { return r.GetPasses() >= 3 })
	if r.GetPasses() != 3 || r.GetDropped() != 0 || r.GetMoved() != uint64(want.Moved) || r.GetUnplaced() != uint64(want.Unplaced) ||
		r.GetDifferingPasses() != differing || r.GetFailures() != 0 {
		t.Errorf("report %v; the native comparison says 3 passes (none dropped), %d differing, %d moved, %d unplaced, no failures",
			protojson.Format(r), differing, want.Moved, want.Unplaced)
	}
	body := scrape(t, filepath.Join(m1.dir, endpoint.SocketName))
	for series, want := range map[string]uint64{
		`shoal_plugin_shadow_passes_total{plugin="binpack"}`:           r.GetPasses(),
		`shoal_plugin_shadow_differing_passes_total{plugin="binpack"}`: r.GetDifferingPasses(),
		`shoal_plugin_shadow_moved_tasks_total{plugin="binpack"}`:      r.GetMoved(),
		`shoal_plugin_shadow_call_seconds_count{plugin="binpack"}`:     r.GetPasses(),
	} {
		if got := metricValue(body, series); got != float64(want) {
			t.Errorf("%s = %v, the report says %d", series, got, want)
		}
	}
	js := mustRun(t, "--data-dir", m1.dir, "plugin", "shadow-report", "binpack", "--format", "json")
	var fromCLI shoalv1.ShadowReport
	if err := protojson.Unmarshal([]byte(js), &fromCLI); err != nil || fromCLI.GetMoved() != r.GetMoved() {
		t.Errorf("shadow-report --format json: %v: %s", err, js)
	}
	t.Logf("binpack shadowing spread: %s", mustRun(t, "--data-dir", m1.dir, "plugin", "shadow-report", "binpack"))

	for _, g := range []string{"loop", "panic"} {
		t.Run("hostile "+g, func(t *testing.T) {
			name := "shadow-" + g
			mustRun(t, "--data-dir", m1.dir, "plugin", "shadow", name)
			probe := startProbe(t, m1)
			_, took := createAndCompare(t, m1, cl, "under-"+g, 3)
			// The API is probed until the shadow's failure is in (a
			// looping guest holds its sandbox until the call times out).
			r := waitShadowReport(t, cl, name, func(r *shoalv1.ShadowReport) bool { return r.GetFailures() >= 1 })
			probe.finish()
			t.Logf("%s shadow: placed after %s (no shadow: %s); ListNodes %d calls p50 %s max %s (no shadow: max %s)", g, took.Round(time.Millisecond),
				baseline.Round(time.Millisecond), len(probe.lat), percentile(probe.lat, 50).Round(time.Microsecond), percentile(probe.lat, 100).Round(time.Microsecond), baseLat.Round(time.Microsecond))
			if took >= shadowCallTimeout {
				t.Errorf("placing took %s with a %s shadow: the shadow's call was on the pass's path", took, g)
			}
			if m := percentile(probe.lat, 100); m > 2*time.Second {
				t.Errorf("ListNodes took %s with a %s shadow (limit 2s)", m, g)
			}
			if r.GetMoved()+r.GetUnplaced() != 0 || len(r.GetLast()) == 0 || r.GetLast()[0].GetError() == "" {
				t.Errorf("a failing shadow's report: %s", protojson.Format(r))
			}
		})
	}
	out = mustRun(t, "--data-dir", m1.dir, "plugin", "shadow", "--off")
	if !strings.Contains(out, "No shadow scheduler") {
		t.Errorf("plugin shadow --off printed %q", out)
	}
}

// createAndCompare reads the node table, creates a service of n process
// replicas on the workers, waits until they are placed and checks that
// they are where the native spread puts them on that table. It returns
// how the native binpack's answer differs from the native spread's and
// how long placing took.
func createAndCompare(t *testing.T, m *manager, cl shadowAPI, name string, n int) (pluginmgr.Difference, time.Duration) {
	t.Helper()
	nodes, tasks := shadowSnapshot(t, cl)
	rows, _ := scheduler.NodeTable(nodes, tasks)
	start := time.Now()
	mustRun(t, "--data-dir", m.dir, "service", "create", "--name", name, "--replicas", fmt.Sprint(n),
		"--constraint", "node.role==worker", "-d", "--process", "--", "sleep", "300")
	placed := waitPlaced(t, m, name, n)
	took := time.Since(start)
	tk := placed[0]
	req := &sdk.ScheduleRequest{Nodes: rows, Groups: []sdk.TaskGroup{{
		ServiceID: tk.GetServiceId(), SpecVersion: tk.GetSpecVersion(), Count: uint32(n), TaskIDs: make([]string, n),
		Kind: string(taskspec.Kind(tk.GetSpec())), Constraints: tk.GetSpec().GetPlacement().GetConstraints(),
	}}}
	sp, bp := spread.Schedule(req), binpack.Schedule(req)
	wantOn := map[string]int{}
	for _, p := range sp.Groups[0].Placements {
		if p != sdk.Unschedulable {
			wantOn[rows[p].ID]++
		}
	}
	gotOn := map[string]int{}
	for _, p := range placed {
		gotOn[p.GetNodeId()]++
		if p.GetScheduler() != "spread" {
			t.Errorf("task %s placed by %q, not spread", p.GetId(), p.GetScheduler())
		}
	}
	if fmt.Sprint(gotOn) != fmt.Sprint(wantOn) {
		t.Errorf("%s placed %v; the native spread on the same table places %v", name, gotOn, wantOn)
	}
	return pluginmgr.CompareAnswers(req, sp, bp), took
}

type shadowAPI interface {
	ListNodes(context.Context, *connect.Request[shoalv1.ListNodesRequest]) (*connect.Response[shoalv1.ListNodesResponse], error)
	ListTasks(context.Context, *connect.Request[shoalv1.ListTasksRequest]) (*connect.Response[shoalv1.ListTasksResponse], error)
	ShadowReport(context.Context, *connect.Request[shoalv1.ShadowReportRequest]) (*connect.Response[shoalv1.ShadowReportResponse], error)
}

// shadowSnapshot lists the nodes (by ID, the store's order) and tasks.
func shadowSnapshot(t *testing.T, cl shadowAPI) ([]*shoalv1.Node, []*shoalv1.Task) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nr, err := cl.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cl.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	nodes := nr.Msg.GetNodes()
	slices.SortFunc(nodes, func(a, b *shoalv1.Node) int { return strings.Compare(a.GetId(), b.GetId()) })
	return nodes, tr.Msg.GetTasks()
}

// waitShadowReport polls the shadow report until done says so, then waits
// a moment more and returns it (so a late extra pass would show).
func waitShadowReport(t *testing.T, cl shadowAPI, name string, done func(*shoalv1.ShadowReport) bool) *shoalv1.ShadowReport {
	t.Helper()
	var r *shoalv1.ShadowReport
	get := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := cl.ShadowReport(ctx, connect.NewRequest(&shoalv1.ShadowReportRequest{Name: name}))
		if err != nil {
			return err
		}
		r = res.Msg.GetReport()
		if !done(r) {
			return fmt.Errorf("report so far: %s", protojson.Format(r))
		}
		return nil
	}
	eventually(t, waitTimeout, "shadow report of "+name, get)
	time.Sleep(300 * time.Millisecond)
	if err := get(); err != nil {
		t.Fatal(err)
	}
	return r
}
