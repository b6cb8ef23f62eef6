package e2e

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// clusterState is what a dry run must leave alone: every service and task
// with its version and state.
func clusterState(t testing.TB, m *manager) string {
	t.Helper()
	cl := m.apiClient(t, false).Control
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	svcs, err := cl.ListServices(ctx, connect.NewRequest(&shoalv1.ListServicesRequest{}))
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	tasks, err := cl.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{}))
	if err != nil {
		t.Fatalf("ListTasks: %v", err)
	}
	var lines []string
	for _, s := range svcs.Msg.GetServices() {
		lines = append(lines, fmt.Sprintf("service %s %s v%d", s.GetId(), s.GetSpec().GetName(), s.GetMeta().GetVersion()))
	}
	for _, tk := range tasks.Msg.GetTasks() {
		lines = append(lines, fmt.Sprintf("task %s %s.%d v%d %v node=%s", tk.GetId(), tk.GetServiceName(), tk.GetSlot(), tk.GetMeta().GetVersion(), tk.GetStatus().GetState(), tk.GetNodeId()))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// dryRun runs `plugin test ARGS...` through m twice, as a table and as
// JSON, and returns both.
func dryRun(t testing.TB, m *manager, args ...string) (string, *shoalv1.TestPluginResponse) {
	t.Helper()
	start := time.Now()
	table := mustRun(t, append([]string{"--data-dir", m.dir, "plugin", "test"}, args...)...)
	took := time.Since(start)
	// --format goes before "--": the command after it is the task's.
	jargs := []string{"--data-dir", m.dir, "plugin", "test", "--format", "json"}
	jargs = append(jargs, args...)
	js := mustRun(t, jargs...)
	res := &shoalv1.TestPluginResponse{}
	if err := protojson.Unmarshal([]byte(js), res); err != nil {
		t.Fatalf("parse plugin test JSON: %v: %q", err, js)
	}
	t.Logf("shoal plugin test %s (%s):\n%s", strings.Join(args, " "), took.Round(time.Millisecond), table)
	return table, res
}

var placedLine = regexp.MustCompile(`(\d+) of (\d+) tasks placed`)

func placedCount(t testing.TB, table string) (placed, total int) {
	t.Helper()
	m := placedLine.FindStringSubmatch(table)
	if m == nil {
		t.Fatalf("plugin test output has no 'N of M tasks placed' line:\n%s", table)
	}
	fmt.Sscan(m[1], &placed)
	fmt.Sscan(m[2], &total)
	if !strings.Contains(table, "Nothing was changed") {
		t.Fatalf("plugin test output does not say nothing was changed:\n%s", table)
	}
	return placed, total
}

func TestPluginDryRun(t *testing.T) {
	guests := buildWasm(t, t.TempDir(),
		wasmBuild{"leastloaded", "github.com/shoal-project/shoal/sdk/examples/leastloaded"},
		wasmBuild{"loop", "./plugins/testdata/hostile/loop"},
	)
	ll := guests["leastloaded"]

	c := newCluster(t)
	m1 := c.init("m1")
	w1 := c.plWorker("w1", m1)
	nodes := map[string]string{m1.nodeID: "m1", w1.nodeID: "w1"}

	// Something already runs, so "unchanged" has something to compare.
	mustRun(t, "--data-dir", m1.dir, "service", "create", "--name", "base", "--replicas", "2", "-d", "--process", "--", "sleep", "120")
	waitPlaced(t, m1, "base", 2)
	eventually(t, waitTimeout, "base is running", func() error {
		ts, err := serviceTasks(t, m1, "base")
		if err != nil {
			return err
		}
		for _, tk := range ts {
			if tk.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_RUNNING {
				return fmt.Errorf("task %s is %v", tk.GetId(), tk.GetStatus().GetState())
			}
		}
		return nil
	})

	// A hypothetical service: 5 placements, nothing stored.
	before := clusterState(t, m1)
	svcLs := mustRun(t, "--data-dir", m1.dir, "service", "ls")
	table, res := dryRun(t, m1, ll, "--replicas", "5", "--process", "--", "sleep", "1")
	if p, n := placedCount(t, table); p != 5 || n != 5 {
		t.Fatalf("plugin test --replicas 5: %d of %d placed, want 5 of 5", p, n)
	}
	if len(res.GetPlacements()) != 5 {
		t.Fatalf("plugin test --replicas 5: %d placements in JSON, want 5", len(res.GetPlacements()))
	}
	for _, p := range res.GetPlacements() {
		if nodes[p.GetNodeId()] == "" || nodes[p.GetNodeId()] != p.GetNodeHostname() || p.GetReason() != "" {
			t.Fatalf("placement %v: not on a known node (%v)", p, nodes)
		}
		if !strings.Contains(table, p.GetTask()) {
			t.Fatalf("table lacks task %s:\n%s", p.GetTask(), table)
		}
	}
	if after := clusterState(t, m1); after != before {
		t.Fatalf("the dry run changed the cluster:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if after := mustRun(t, "--data-dir", m1.dir, "service", "ls"); after != svcLs {
		t.Fatalf("service ls changed:\n%s\n---\n%s", svcLs, after)
	}

	// Impossible constraint: every task says why.
	table, res = dryRun(t, m1, ll, "--replicas", "2", "--constraint", "node.labels.zone==mars", "--process", "--", "sleep", "1")
	if p, n := placedCount(t, table); p != 0 || n != 2 {
		t.Fatalf("plugin test with zone==mars: %d of %d placed, want 0 of 2", p, n)
	}
	for _, p := range res.GetPlacements() {
		if p.GetNodeId() != "" || !strings.Contains(p.GetReason(), "no suitable node") {
			t.Fatalf("placement %v: want no node and a 'no suitable node' reason", p)
		}
	}
	if !strings.Contains(table, "no suitable node") {
		t.Fatalf("table does not show the reason:\n%s", table)
	}

	// No spec: the plugin places the cluster's pending tasks.
	mustRun(t, "--data-dir", m1.dir, "service", "create", "--name", "stuck", "--replicas", "3", "--constraint", "node.labels.zone==mars", "-d", "--process", "--", "sleep", "120")
	eventually(t, waitTimeout, "stuck's tasks are pending with a reason", func() error {
		ts, err := serviceTasks(t, m1, "stuck")
		if err != nil {
			return err
		}
		if len(ts) != 3 {
			return fmt.Errorf("%d tasks", len(ts))
		}
		for _, tk := range ts {
			if tk.GetStatus().GetState() != shoalv1.TaskState_TASK_STATE_PENDING || !strings.Contains(tk.GetStatus().GetErr(), "no suitable node") {
				return fmt.Errorf("task %s: %v %q", tk.GetId(), tk.GetStatus().GetState(), tk.GetStatus().GetErr())
			}
		}
		return nil
	})
	before = clusterState(t, m1)
	table, res = dryRun(t, m1, ll)
	if p, n := placedCount(t, table); p != 0 || n != 3 {
		t.Fatalf("plugin test (pending tasks): %d of %d placed, want 0 of 3", p, n)
	}
	for _, p := range res.GetPlacements() {
		if !strings.HasPrefix(p.GetTask(), "stuck.") || p.GetNodeId() != "" || !strings.Contains(p.GetReason(), "no suitable node") {
			t.Fatalf("pending placement %v: want a stuck task, no node, a 'no suitable node' reason", p)
		}
	}

	// By name, once installed: the same answer for a hypothetical service.
	mustRun(t, "--data-dir", m1.dir, "plugin", "install", "leastloaded", ll, "--kind", "scheduler")
	table, _ = dryRun(t, m1, "leastloaded", "--replicas", "2", "--process", "--", "sleep", "1")
	if p, n := placedCount(t, table); p != 2 || n != 2 {
		t.Fatalf("plugin test leastloaded (by name): %d of %d placed, want 2 of 2", p, n)
	}

	// A plugin stuck in a loop: the dry run fails after the deadline, says
	// why, and the manager carries on.
	start := time.Now()
	r := runTimeout(t, 2*cliTimeout, "--data-dir", m1.dir, "plugin", "test", guests["loop"], "--replicas", "1", "--process", "--", "sleep", "1")
	took := time.Since(start)
	if r.Code == 0 || !strings.Contains(r.Stderr, "timed out") {
		t.Fatalf("dry run of a looping plugin: %s", r)
	}
	t.Logf("dry run of a looping plugin failed after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(r.Stderr))

	// stuck's tasks are still pending and nothing else moved.
	if after := clusterState(t, m1); after != before {
		// The install above is the only write; services and tasks are unchanged.
		t.Fatalf("the dry runs changed services or tasks:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
