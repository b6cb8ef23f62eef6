package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// respProbe calls ListNodes (and every few calls GetCluster) on one
// manager's API in a loop until stopped, recording latencies and the leader
// each GetCluster names.
type respProbe struct {
	mu      sync.Mutex
	lat     []time.Duration
	leaders map[string]int
	terms   map[uint64]int
	errs    []string
	stop    chan struct{}
	done    chan struct{}
}

func startProbe(t testing.TB, m *manager) *respProbe {
	t.Helper()
	cl := m.apiClient(t, false).Control
	p := &respProbe{leaders: map[string]int{}, terms: map[uint64]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			start := time.Now()
			_, err := cl.ListNodes(ctx, connect.NewRequest(&shoalv1.ListNodesRequest{}))
			d := time.Since(start)
			var gc *connect.Response[shoalv1.GetClusterResponse]
			var gerr error
			if i%4 == 0 {
				gc, gerr = cl.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
			}
			cancel()
			p.mu.Lock()
			p.lat = append(p.lat, d)
			if err != nil {
				p.errs = append(p.errs, "ListNodes: "+err.Error())
			}
			if gerr != nil {
				p.errs = append(p.errs, "GetCluster: "+gerr.Error())
			} else if gc != nil {
				p.leaders[gc.Msg.GetLeaderNodeId()]++
				p.terms[gc.Msg.GetRaftTerm()]++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *respProbe) finish() {
	close(p.stop)
	<-p.done
}

type hostileGuest struct {
	name string
	// errHint is a lowercase substring expected in the plugin's last error ("" = any).
	errHint string
}

func TestHostilePlugins(t *testing.T) {
	guests := buildWasm(t, t.TempDir(),
		wasmBuild{"loop", "./plugins/testdata/hostile/loop"},
		wasmBuild{"alloc", "./plugins/testdata/hostile/alloc"},
		wasmBuild{"panic", "./plugins/testdata/hostile/panic"},
		wasmBuild{"wronglen", "./plugins/testdata/hostile/wronglen"},
		wasmBuild{"passwd", "./plugins/testdata/hostile/passwd"},
		wasmBuild{"abiv2", "./plugins/testdata/hostile/abiv2"},
		wasmBuild{"noexport", "./plugins/testdata/hostile/noexport"},
		wasmBuild{"loopinit", "./plugins/testdata/hostile/loopinit"},
		wasmBuild{"exit", "./plugins/testdata/hostile/exit"},
		wasmBuild{"badindex", "./e2e/testdata/plugins/badindex"},
		wasmBuild{"leastloaded", "github.com/shoal-project/shoal/sdk/examples/leastloaded"},
	)

	// Default Raft timing (100 ms tick, election after 1 s): a manager that
	// stalled for a second would lose its leadership. A long heartbeat
	// period keeps the worker READY while the test holds it stopped.
	c := newCluster(t)
	m1 := c.init("m1", "--heartbeat-period", "10s")
	c.joinManager("m2", m1)
	c.joinManager("m3", m1)
	w1 := c.plWorker("w1", m1)
	leader := agreeOnLeader(t, c.managers, 3)
	lm := c.byID(leader)
	t.Logf("leader is %s", lm.name)

	// Baseline latency of ListNodes on the leader, no plugin involved.
	base := startProbe(t, lm)
	time.Sleep(2 * time.Second)
	base.finish()
	t.Logf("baseline ListNodes on the leader: %d calls, p50 %s, p99 %s, max %s",
		len(base.lat), percentile(base.lat, 50).Round(time.Microsecond), percentile(base.lat, 99).Round(time.Microsecond), percentile(base.lat, 100).Round(time.Microsecond))

	t.Run("install refusals", func(t *testing.T) { installRefusals(t, lm, guests) })

	for _, g := range []hostileGuest{
		{"loop", "timed out"},
		{"alloc", ""},
		{"panic", "panic"},
		{"badindex", ""},
		{"wronglen", ""},
		{"passwd", "denied"},
		{"exit", ""},
	} {
		t.Run(g.name, func(t *testing.T) { hostileRun(t, lm, w1, leader, g, guests[g.name]) })
	}
	// Last: it occupies the plugin sandbox for as long as validation lets it.
	t.Run("loop in init while installing", func(t *testing.T) { loopInitInstall(t, lm, leader, guests["loopinit"]) })
}

// loopInitInstall installs a module whose init never returns. Validation
// must refuse it, and while it tries, scheduling must go on with the active
// (good) plugin and the API must answer.
func loopInitInstall(t *testing.T, lm *manager, leader, wasm string) {
	type outcome struct {
		r   result
		err error
		d   time.Duration
	}
	done := make(chan outcome, 1)
	started := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := []string{"--data-dir", lm.dir, "plugin", "install", "loop-init", wasm, "--kind", "scheduler"}
		cmd := exec.CommandContext(ctx, shoalBin, args...)
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		r := result{Stdout: so.String(), Stderr: se.String(), Args: args}
		if ee, ok := err.(*exec.ExitError); ok {
			r.Code, err = ee.ExitCode(), nil
		}
		done <- outcome{r, err, time.Since(started)}
	}()
	time.Sleep(time.Second) // validation is under way

	probe := startProbe(t, lm)
	created := time.Now()
	mustRun(t, "--data-dir", lm.dir, "service", "create", "--name", "during-install", "--replicas", "2", "--constraint", "node.role==worker",
		"-d", "--process", "--", "sleep", "120")
	var placedAt time.Duration
	var tasks []*shoalv1.Task
	for placedAt == 0 && time.Since(created) < 4*time.Minute {
		ts, err := serviceTasks(t, lm, "during-install")
		if err != nil {
			t.Errorf("service ps: %v", err)
		}
		if placed, _ := placedTasks(ts); len(placed) == 2 {
			placedAt, tasks = time.Since(created), placed
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var o outcome
	select {
	case o = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("plugin install of a module looping in init did not return")
	}
	probe.finish()
	t.Logf("loop in init: install answered after %s: exit %d: %s", o.d.Round(time.Millisecond), o.r.Code, strings.TrimSpace(o.r.Stderr))
	t.Logf("loop in init: during-install placed %s after create by %v; ListNodes %d calls p50 %s p99 %s max %s; leaders seen %v",
		placedAt.Round(time.Millisecond), schedulersOf(tasks), len(probe.lat), percentile(probe.lat, 50).Round(time.Microsecond),
		percentile(probe.lat, 99).Round(time.Microsecond), percentile(probe.lat, 100).Round(time.Microsecond), probe.leaders)
	if o.err != nil {
		t.Fatalf("plugin install: %v", o.err)
	}
	if o.r.Code == 0 || !strings.Contains(o.r.Stderr, "timed out") {
		t.Errorf("a module looping in init was not refused with a timeout: %s", o.r)
	}
	if res, err := pluginList(t, lm); err != nil {
		t.Error(err)
	} else if p, _ := pluginNamed(res, "loop-init"); p != nil {
		t.Errorf("the refused module was stored: %v", p)
	}
	if m := percentile(probe.lat, 100); m > 2*time.Second {
		t.Errorf("ListNodes took %s while the install was validated (limit 2s)", m)
	}
	if len(probe.leaders) != 1 || probe.leaders[leader] == 0 {
		t.Errorf("leader changed while the install was validated: %v (want only %s)", probe.leaders, leader)
	}
	// The active scheduler is spread, which is fine: validating someone
	// else's module must not hold the scheduler up (20 s is 4x the call
	// deadline) nor push its tasks to the fallback.
	if placedAt == 0 || placedAt > 20*time.Second {
		t.Errorf("a service created while a looping module was being validated was placed after %s (want < 20s): the scheduler waited on the plugin sandbox", placedAt)
	}
	for _, tk := range tasks {
		if tk.GetScheduler() != "spread" {
			t.Errorf("task %s placed by %q, want spread (the active scheduler); status %q", tk.GetId(), tk.GetScheduler(), tk.GetStatus().GetMessage())
			break
		}
	}
	mustRun(t, "--data-dir", lm.dir, "service", "rm", "during-install")
}

// installRefusals: modules the manager must refuse at install time, with an
// error that says why, storing nothing.
func installRefusals(t *testing.T, lm *manager, guests map[string]string) {
	before, err := pluginList(t, lm)
	if err != nil {
		t.Fatal(err)
	}
	notWasm := filepath.Join(t.TempDir(), "notes.wasm")
	if err := os.WriteFile(notWasm, []byte("this is a text file, not a WebAssembly module\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what, name, file, kind string
		want                   []string // lowercase substrings of stderr
	}{
		{"ABI version 2", "bad-abi", guests["abiv2"], "scheduler", []string{"abi"}},
		{"missing shoal_schedule", "no-export", guests["noexport"], "scheduler", []string{"shoal_schedule"}},
		{"not a wasm file", "not-wasm", notWasm, "scheduler", []string{"not a webassembly module"}},
		{"scheduler installed as allocator", "ll-alloc", guests["leastloaded"], "allocator", []string{"allocat"}},
		{"built-in name", "spread", guests["leastloaded"], "scheduler", []string{"built-in"}},
	} {
		r := lm.cli(t, "plugin", "install", tc.name, tc.file, "--kind", tc.kind)
		if r.Code == 0 {
			t.Errorf("%s: install succeeded: %s", tc.what, r)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(strings.ToLower(r.Stderr), w) {
				t.Errorf("%s: error does not say %q: %s", tc.what, w, strings.TrimSpace(r.Stderr))
			}
		}
		t.Logf("%s: refused: %s", tc.what, strings.TrimSpace(r.Stderr))
	}

	// The server refuses a non-module too (the CLI checks first; this goes
	// straight to the API).
	cl := lm.apiClient(t, false).Control
	_, err = cl.InstallPlugin(context.Background(), connect.NewRequest(&shoalv1.InstallPluginRequest{
		Name: "raw-garbage", Kind: shoalv1.PluginKind_PLUGIN_KIND_SCHEDULER, Wasm: []byte("\x00asm but then garbage, not a module"),
	}))
	if err == nil {
		t.Errorf("API InstallPlugin accepted garbage bytes")
	} else {
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("API InstallPlugin of garbage: code %v, want invalid_argument: %v", connect.CodeOf(err), err)
		}
		t.Logf("API install of garbage refused: %v", err)
	}

	// Duplicate name (another module) and duplicate module (another name).
	mustRun(t, "--data-dir", lm.dir, "plugin", "install", "ll", guests["leastloaded"], "--kind", "scheduler")
	mid, err := pluginList(t, lm)
	if err != nil {
		t.Fatal(err)
	}
	ll, _ := pluginNamed(mid, "ll")
	if ll == nil {
		t.Fatalf("ll not listed after install")
	}
	r := lm.cli(t, "plugin", "install", "ll", guests["panic"], "--kind", "scheduler")
	if r.Code == 0 || !strings.Contains(r.Stderr, "ll") || !strings.Contains(strings.ToLower(r.Stderr), "already") && !strings.Contains(strings.ToLower(r.Stderr), "installed") {
		t.Errorf("duplicate name: %s", r)
	} else {
		t.Logf("duplicate name refused: %s", strings.TrimSpace(r.Stderr))
	}
	r = lm.cli(t, "plugin", "install", "ll2", guests["leastloaded"], "--kind", "scheduler")
	if r.Code == 0 || !strings.Contains(strings.ToLower(r.Stderr), "already") {
		t.Errorf("duplicate module: %s", r)
	} else {
		t.Logf("duplicate module refused: %s", strings.TrimSpace(r.Stderr))
	}
	after, err := pluginList(t, lm)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := pluginNamed(after, "ll"); p == nil || p.GetId() != ll.GetId() {
		t.Errorf("ll changed after the refused duplicate install: %v, was %v", p, ll)
	}
	for _, name := range []string{"bad-abi", "no-export", "not-wasm", "ll-alloc", "raw-garbage", "ll2"} {
		if p, _ := pluginNamed(after, name); p != nil {
			t.Errorf("refused plugin %s was stored: %v", name, p)
		}
	}
	if len(after.GetPlugins()) != len(before.GetPlugins())+1 {
		t.Errorf("plugins: %d before, %d after (one install accepted)", len(before.GetPlugins()), len(after.GetPlugins()))
	}
	if p, _ := pluginNamed(after, "spread"); p == nil || !p.GetBuiltin() {
		t.Errorf("spread is no longer the built-in: %v", p)
	}
	mustRun(t, "--data-dir", lm.dir, "plugin", "rm", "ll")
}

// hostileRun installs and activates one hostile scheduler, creates a
// service while the worker is stopped (so the tasks stay ASSIGNED and their
// status can be read), and measures the leader's API latency during the
// pass that calls the plugin.
func hostileRun(t *testing.T, lm, w1 *manager, leader string, g hostileGuest, wasm string) {
	pname := "h-" + g.name
	svc := "svc-" + g.name
	good := "good-" + g.name
	out := mustRun(t, "--data-dir", lm.dir, "plugin", "install", pname, wasm, "--kind", "scheduler")
	t.Logf("install: %s", strings.TrimSpace(out))
	mustRun(t, "--data-dir", lm.dir, "plugin", "activate", pname)
	_, term0, err := clusterLeader(t, lm)
	if err != nil {
		t.Fatal(err)
	}

	// Hold the worker still: its tasks stay ASSIGNED with the scheduler's note.
	w1.signal(syscall.SIGSTOP)
	continued := false
	cont := func() {
		if !continued {
			w1.signal(syscall.SIGCONT)
			continued = true
		}
	}
	defer cont()

	probe := startProbe(t, lm)
	created := time.Now()
	mustRun(t, "--data-dir", lm.dir, "service", "create", "--name", svc, "--replicas", "3", "--constraint", "node.role==worker",
		"-d", "--process", "--", "sleep", "120")
	var cliLat []time.Duration
	var placedAt time.Duration
	var tasks []*shoalv1.Task
	for {
		start := time.Now()
		r := lm.cli(t, "node", "ls")
		cliLat = append(cliLat, time.Since(start))
		if r.Code != 0 {
			t.Errorf("node ls during the plugin call: %s", r)
		}
		if placedAt == 0 {
			ts, err := serviceTasks(t, lm, svc)
			if err != nil {
				t.Errorf("service ps during the plugin call: %v", err)
			}
			if placed, _ := placedTasks(ts); len(placed) == 3 {
				placedAt = time.Since(created)
				tasks = placed
			}
		}
		if placedAt > 0 && time.Since(created) > placedAt+time.Second {
			break
		}
		if time.Since(created) > 2*waitTimeout {
			probe.finish()
			t.Fatalf("tasks of %s not placed within %s", svc, 2*waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	probe.finish()
	window := time.Since(created)

	p := probe
	t.Logf("%s: tasks placed %s after create; during the %s window: ListNodes (Go API, leader) %d calls p50 %s p99 %s max %s; `shoal node ls` %d runs p50 %s p99 %s max %s",
		g.name, placedAt.Round(time.Millisecond), window.Round(time.Millisecond),
		len(p.lat), percentile(p.lat, 50).Round(time.Microsecond), percentile(p.lat, 99).Round(time.Microsecond), percentile(p.lat, 100).Round(time.Microsecond),
		len(cliLat), percentile(cliLat, 50).Round(time.Millisecond), percentile(cliLat, 99).Round(time.Millisecond), percentile(cliLat, 100).Round(time.Millisecond))
	if g.name == "loop" && placedAt < 4*time.Second {
		// The call deadline is 5 s: placing sooner means the plugin was
		// not stuck while the latencies above were measured.
		t.Errorf("loop: tasks placed %s after create, before the 5s plugin deadline could pass", placedAt)
	}
	if len(p.errs) > 0 {
		t.Errorf("%d API errors during the plugin call, first: %s", len(p.errs), p.errs[0])
	}
	if m := percentile(p.lat, 100); m > 2*time.Second {
		t.Errorf("ListNodes took %s while the plugin was called (limit 2s)", m)
	}
	if m := percentile(cliLat, 100); m > 2*time.Second {
		t.Errorf("`shoal node ls` took %s while the plugin was called (limit 2s)", m)
	}
	if len(p.leaders) != 1 || p.leaders[leader] == 0 {
		t.Errorf("leader changed during the plugin call: %v (want only %s)", p.leaders, leader)
	}
	_, term1, err := clusterLeader(t, lm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: Raft terms seen %v; term before %d, after %d", g.name, p.terms, term0, term1)
	if l, _, _ := clusterLeader(t, lm); l != leader {
		t.Errorf("leader after the hostile pass is %q, want %s", l, leader)
	}

	// The tasks were placed by the native fallback, and say why.
	for _, tk := range tasks {
		if tk.GetScheduler() != "native" {
			t.Errorf("task %s placed by %q, want native (the plugin fails)", tk.GetId(), tk.GetScheduler())
		}
		st := tk.GetStatus()
		if st.GetState() != shoalv1.TaskState_TASK_STATE_ASSIGNED {
			t.Errorf("task %s is %v; the worker is stopped, want ASSIGNED", tk.GetId(), st.GetState())
		}
		if !strings.Contains(st.GetMessage(), "fallback") || !strings.Contains(st.GetMessage(), pname) {
			t.Errorf("task %s status message does not say why it was placed by the fallback: %q", tk.GetId(), st.GetMessage())
		}
	}
	if len(tasks) > 0 {
		t.Logf("%s: task status: %q", g.name, tasks[0].GetStatus().GetMessage())
	}

	res, err := pluginList(t, lm)
	if err != nil {
		t.Fatal(err)
	}
	_, st := pluginNamed(res, pname)
	if st == nil || st.GetFailures() == 0 || st.GetLastError() == "" || !st.GetActive() {
		t.Errorf("plugin ls stats for %s: %v (want failures > 0, a last error, active)", pname, st)
	} else {
		t.Logf("%s: calls=%d failures=%d last error: %s", g.name, st.GetCalls(), st.GetFailures(), st.GetLastError())
		if g.errHint != "" && !strings.Contains(strings.ToLower(st.GetLastError()), g.errHint) {
			t.Errorf("%s: last error does not mention %q: %s", pname, g.errHint, st.GetLastError())
		}
	}
	if g.name == "passwd" {
		passwdNeverShown(t, lm, svc, st)
	}

	// Let the worker go; a good plugin places the next pass.
	cont()
	mustRun(t, "--data-dir", lm.dir, "plugin", "activate", "spread")
	mustRun(t, "--data-dir", lm.dir, "service", "create", "--name", good, "--replicas", "2", "--constraint", "node.role==worker",
		"-d", "--process", "--", "sleep", "120")
	requireScheduler(t, good, waitPlaced(t, lm, good, 2), "spread")
	mustRun(t, "--data-dir", lm.dir, "service", "rm", svc, good)
	mustRun(t, "--data-dir", lm.dir, "plugin", "rm", pname)
}

// passwdNeverShown: the guest that reads /etc/passwd must not have got its
// content anywhere a person (or the manager's log) could see it.
func passwdNeverShown(t *testing.T, lm *manager, svc string, st *shoalv1.PluginStats) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatalf("read /etc/passwd: %v", err)
	}
	first := strings.SplitN(string(b), "\n", 2)[0]
	if first == "" {
		t.Fatalf("/etc/passwd has no first line")
	}
	places := map[string]string{
		"last error":       st.GetLastError(),
		"plugin ls":        mustRun(t, "--data-dir", lm.dir, "plugin", "ls", "--format", "json"),
		"service ps":       mustRun(t, "--data-dir", lm.dir, "service", "ps", svc, "--format", "json", "--no-trunc"),
		"the leader's log": lm.log(),
	}
	for where, text := range places {
		if strings.Contains(text, first) || strings.Contains(text, "LEAKED") {
			t.Errorf("the content of /etc/passwd shows in %s", where)
		}
	}
	t.Logf("passwd guest: /etc/passwd's content appears nowhere (last error: %s)", st.GetLastError())
}
