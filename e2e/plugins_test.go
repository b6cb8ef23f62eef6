package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// wasmBuild is one guest to build: pkg is an import path, built from the
// repository root ("github.com/shoal-project/shoal/sdk/examples/leastloaded":
// the example lives in the sdk module, which go.mod replaces with ./sdk).
type wasmBuild struct{ name, pkg string }

// buildWasm builds guests for wasip1 into dir, two at a time, exactly as
// sdk/examples/leastloaded/README.md says (GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared -trimpath), and returns name -> path of the .wasm.
func buildWasm(t testing.TB, dir string, guests ...wasmBuild) map[string]string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	sem := make(chan struct{}, 2)
	start := time.Now()
	for _, g := range guests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			path := filepath.Join(dir, g.name+".wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", path, g.pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			b, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("build %s (%s): %v\n%s", g.name, g.pkg, err, b))
				return
			}
			out[g.name] = path
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%s", strings.Join(errs, "\n"))
	}
	t.Logf("built %d wasm guests in %s", len(guests), time.Since(start).Round(time.Millisecond))
	return out
}

// plWorker joins a worker node listening on a free address through via
// (see joinWorker).
func (c *cluster) plWorker(name string, via *manager) *manager {
	c.t.Helper()
	return c.joinWorker(c.t, name, freeAddr(c.t), via, c.extra...)
}

// placedTasks returns svc's tasks that should run and have a node
// (ASSIGNED or later), skipping those on the nodes in dead.
func placedTasks(ts []*shoalv1.Task, dead ...string) (placed []*shoalv1.Task, pending int) {
	for _, tk := range ts {
		if tk.GetDesiredState() > shoalv1.TaskState_TASK_STATE_RUNNING {
			continue
		}
		skip := false
		for _, d := range dead {
			if d != "" && tk.GetNodeId() == d {
				skip = true
			}
		}
		if skip {
			continue
		}
		if tk.GetNodeId() != "" && tk.GetStatus().GetState() >= shoalv1.TaskState_TASK_STATE_ASSIGNED {
			placed = append(placed, tk)
		} else {
			pending++
		}
	}
	return placed, pending
}

// waitPlaced waits until svc has want placed tasks (desired running, not on
// a dead node) and returns them.
func waitPlaced(t testing.TB, m *manager, svc string, want int, dead ...string) []*shoalv1.Task {
	t.Helper()
	var placed []*shoalv1.Task
	d := eventually(t, waitTimeout, fmt.Sprintf("%d tasks of %s placed", want, svc), func() error {
		ts, err := serviceTasks(t, m, svc)
		if err != nil {
			return err
		}
		var pending int
		placed, pending = placedTasks(ts, dead...)
		if len(placed) != want {
			return fmt.Errorf("%d placed, %d pending of %d tasks", len(placed), pending, len(ts))
		}
		return nil
	})
	t.Logf("%d tasks of %s placed after %s", want, svc, d.Round(time.Millisecond))
	return placed
}

// schedulersOf counts the tasks per recorded scheduler.
func schedulersOf(ts []*shoalv1.Task) map[string]int {
	out := map[string]int{}
	for _, tk := range ts {
		out[tk.GetScheduler()]++
	}
	return out
}

func requireScheduler(t testing.TB, what string, ts []*shoalv1.Task, want string) {
	t.Helper()
	for _, tk := range ts {
		if tk.GetScheduler() != want {
			t.Fatalf("%s: task %s (slot %d) was placed by %q, want %q (all: %v); status %q",
				what, tk.GetId(), tk.GetSlot(), tk.GetScheduler(), want, schedulersOf(ts), tk.GetStatus().GetMessage())
		}
	}
}

// pluginList reads `plugin ls --format json` through m.
func pluginList(t testing.TB, m *manager, extra ...string) (*shoalv1.ListPluginsResponse, error) {
	t.Helper()
	r := m.cli(t, append(extra, "plugin", "ls", "--format", "json")...)
	if r.Code != 0 {
		return nil, fmt.Errorf("plugin ls via %s: %s", m.name, strings.TrimSpace(r.Stderr))
	}
	list, err := parseList[shoalv1.GetPluginResponse](r.Stdout, "plugin")
	if err != nil {
		return nil, err
	}
	res := &shoalv1.ListPluginsResponse{}
	for _, p := range list {
		res.Plugins, res.Stats = append(res.Plugins, p.GetPlugin()), append(res.Stats, p.GetStats())
	}
	return res, nil
}

// pluginNamed returns the plugin called name and its stats, or nil.
func pluginNamed(res *shoalv1.ListPluginsResponse, name string) (*shoalv1.PluginModule, *shoalv1.PluginStats) {
	for i, p := range res.GetPlugins() {
		if p.GetName() == name {
			return p, res.GetStats()[i]
		}
	}
	return nil, nil
}

// clusterLeader asks m (`cluster inspect`) for the Raft leader and term.
func clusterLeader(t testing.TB, m *manager) (string, uint64, error) {
	t.Helper()
	r := m.cli(t, "cluster", "inspect")
	if r.Code != 0 {
		return "", 0, fmt.Errorf("cluster inspect via %s: %s", m.name, strings.TrimSpace(r.Stderr))
	}
	res := &shoalv1.GetClusterResponse{}
	if err := protojson.Unmarshal([]byte(r.Stdout), res); err != nil {
		return "", 0, fmt.Errorf("parse cluster inspect: %w: %q", err, r.Stdout)
	}
	return res.GetLeaderNodeId(), res.GetRaftTerm(), nil
}

// percentile of ds (sorted in place), p in [0,100].
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

func TestPluginHotSwap(t *testing.T) {
	wasm := buildWasm(t, t.TempDir(), wasmBuild{"leastloaded", "github.com/shoal-project/shoal/sdk/examples/leastloaded"})["leastloaded"]

	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", "2s")
	c.joinManager("m2", m1)
	c.joinManager("m3", m1)
	w1 := c.plWorker("w1", m1)
	agreeOnLeader(t, c.managers, 3)

	out := mustRun(t, "--data-dir", m1.dir, "plugin", "install", "leastloaded", wasm, "--kind", "scheduler")
	if !strings.Contains(out, "Installed scheduler plugin leastloaded") {
		t.Fatalf("install said %q", out)
	}
	t.Logf("install: %s", strings.TrimSpace(out))

	// Every manager lists it, through the leader and from its own store;
	// the table shows the built-ins too.
	for _, m := range c.managers {
		for _, local := range []bool{false, true} {
			var args []string
			if local {
				args = append(args, "--local")
			}
			eventually(t, waitTimeout, fmt.Sprintf("%s (local=%v) lists leastloaded", m.name, local), func() error {
				r := m.cli(t, append(args, "plugin", "ls")...)
				if r.Code != 0 {
					return fmt.Errorf("%s", r)
				}
				for _, want := range []string{"leastloaded", "spread", "binpack", "ipam", "CALLS", "FAILURES", "LAST ERROR"} {
					if !strings.Contains(r.Stdout, want) {
						return fmt.Errorf("plugin ls lacks %q:\n%s", want, r.Stdout)
					}
				}
				return nil
			})
		}
	}

	// Activate through a follower (writes are forwarded to the leader).
	leader, _, err := clusterLeader(t, m1)
	if err != nil {
		t.Fatal(err)
	}
	var follower *manager
	for _, m := range c.managers {
		if m.nodeID != leader {
			follower = m
			break
		}
	}
	out = mustRun(t, "--data-dir", follower.dir, "plugin", "activate", "leastloaded")
	if !strings.Contains(out, "Active scheduler: leastloaded") {
		t.Fatalf("activate said %q", out)
	}
	res, err := pluginList(t, m1)
	if err != nil {
		t.Fatal(err)
	}
	if _, st := pluginNamed(res, "leastloaded"); st == nil || !st.GetActive() {
		t.Fatalf("leastloaded not active after activate: %v", st)
	}
	if _, st := pluginNamed(res, "spread"); st == nil || st.GetActive() {
		t.Fatalf("spread still active after activating leastloaded: %v", st)
	}

	mustRun(t, "--data-dir", m1.dir, "service", "create", "--name", "web", "--replicas", "4", "-d", "--process", "--", "sleep", "120")
	ts := waitPlaced(t, m1, "web", 4)
	requireScheduler(t, "web before failover", ts, "leastloaded")

	// kill -9 the leader; the new leader must use the same plugin, which it
	// compiled from the store when it was installed: no restart.
	old := c.byID(leader)
	if old == nil {
		t.Fatalf("leader %s is not one of the managers", leader)
	}
	var survivors []*manager
	for _, m := range c.managers {
		if m != old {
			survivors = append(survivors, m)
		}
	}
	old.kill()
	killed := time.Now()
	var newLeader string
	d := eventually(t, waitTimeout, "a new leader is elected", func() error {
		for _, m := range survivors {
			l, term, err := clusterLeader(t, m)
			if err != nil {
				return err
			}
			if l == "" || l == leader {
				return fmt.Errorf("%s names leader %q (term %d)", m.name, l, term)
			}
			if newLeader != "" && l != newLeader {
				return fmt.Errorf("survivors disagree: %s vs %s", l, newLeader)
			}
			newLeader = l
		}
		return nil
	})
	t.Logf("new leader %s (%s) answers %s after SIGKILL of %s", newLeader, c.byID(newLeader).name, d.Round(time.Millisecond), old.name)
	via := c.byID(newLeader)

	mustRun(t, "--data-dir", via.dir, "service", "scale", "-d", "web=6")
	mustRun(t, "--data-dir", via.dir, "service", "create", "--name", "api", "--replicas", "3", "-d", "--process", "--", "sleep", "120")
	web := waitPlaced(t, via, "web", 6, old.nodeID)
	api := waitPlaced(t, via, "api", 3, old.nodeID)
	requireScheduler(t, "web after failover", web, "leastloaded")
	requireScheduler(t, "api after failover", api, "leastloaded")
	fresh := 0
	for _, tk := range append(web, api...) {
		if tk.GetMeta().GetCreatedAt().AsTime().After(killed) {
			fresh++
		}
	}
	if fresh < 5 {
		t.Fatalf("only %d tasks created after the failover; want at least 5 (2 from the scale, 3 of api)", fresh)
	}
	t.Logf("%d tasks created after the failover, all placed by leastloaded on the new leader; time from kill: %s", fresh, time.Since(killed).Round(time.Millisecond))
	res, err = pluginList(t, via)
	if err != nil {
		t.Fatal(err)
	}
	_, st := pluginNamed(res, "leastloaded")
	if st == nil || st.GetCalls() == 0 || st.GetFailures() != 0 || !st.GetActive() {
		t.Fatalf("new leader's leastloaded counters: %v (want calls > 0, no failures, active)", st)
	}
	t.Logf("new leader's leastloaded counters: calls=%d failures=%d", st.GetCalls(), st.GetFailures())

	// inspect names it; an active plugin and a built-in cannot be removed.
	insps, err := parseList[shoalv1.GetPluginResponse](mustRun(t, "--data-dir", via.dir, "plugin", "inspect", "leastloaded"), "plugin")
	if err != nil || len(insps) != 1 {
		t.Fatalf("parse plugin inspect: %v (%d plugins)", err, len(insps))
	}
	insp := insps[0]
	if p := insp.GetPlugin(); p.GetName() != "leastloaded" || p.GetKind() != shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER || p.GetBuiltin() || len(p.GetId()) != 64 || !insp.GetStats().GetActive() {
		t.Fatalf("plugin inspect leastloaded: %v", insp)
	}
	if r := via.cli(t, "plugin", "rm", "leastloaded"); r.Code == 0 || !strings.Contains(r.Stderr, "active") {
		t.Fatalf("removing the active scheduler: %s", r)
	}
	if r := via.cli(t, "plugin", "rm", "binpack"); r.Code == 0 || !strings.Contains(r.Stderr, "built in") {
		t.Fatalf("removing a built-in: %s", r)
	}

	// A per-service choice wins over the cluster default.
	mustRun(t, "--data-dir", via.dir, "service", "create", "--name", "packed", "--scheduler", "binpack", "--replicas", "2", "-d", "--process", "--", "sleep", "120")
	requireScheduler(t, "packed (--scheduler binpack)", waitPlaced(t, via, "packed", 2, old.nodeID), "binpack")

	// Switch back: the next pass uses spread, no restart.
	out = mustRun(t, "--data-dir", via.dir, "plugin", "activate", "spread")
	if !strings.Contains(out, "Active scheduler: spread") {
		t.Fatalf("activate spread said %q", out)
	}
	switched := time.Now()
	mustRun(t, "--data-dir", via.dir, "service", "scale", "-d", "api=5")
	mustRun(t, "--data-dir", via.dir, "service", "create", "--name", "after", "--replicas", "2", "-d", "--process", "--", "sleep", "120")
	requireScheduler(t, "after (spread active)", waitPlaced(t, via, "after", 2, old.nodeID), "spread")
	api = waitPlaced(t, via, "api", 5, old.nodeID)
	counts := map[string]int{}
	for _, tk := range api {
		if tk.GetMeta().GetCreatedAt().AsTime().After(switched) {
			counts[tk.GetScheduler()]++
			if tk.GetScheduler() != "spread" {
				t.Fatalf("api task %s created after 'plugin activate spread' was placed by %q", tk.GetId(), tk.GetScheduler())
			}
		}
	}
	if counts["spread"] < 2 {
		t.Fatalf("api scaled 3 -> 5 after activating spread: new tasks by scheduler %v, want 2 by spread", counts)
	}
	requireScheduler(t, "packed after switching back", waitPlaced(t, via, "packed", 2, old.nodeID), "binpack")
	t.Logf("after 'plugin activate spread': new tasks by scheduler %v", counts)

	// No longer active and used by no service: it can go, from every manager.
	mustRun(t, "--data-dir", via.dir, "plugin", "rm", "leastloaded")
	for _, m := range survivors {
		eventually(t, waitTimeout, m.name+" no longer lists leastloaded", func() error {
			res, err := pluginList(t, m, "--local")
			if err != nil {
				return err
			}
			if p, _ := pluginNamed(res, "leastloaded"); p != nil {
				return fmt.Errorf("still listed: %v", p)
			}
			return nil
		})
	}
	_ = w1
}
