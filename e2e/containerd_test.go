package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/testenv"
	"github.com/shoal-project/shoal/internal/testhost"
	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/containerd"
)

// The containerd tests run real shoal nodes with the containerd backend against
// the containerd and registry that scripts/ci-services.sh starts. Every node of a
// test has its own namespace and bridge; the cleanup removes both.

// ctrEnv is where containerd and the test registry are.
type ctrEnv struct {
	addr     string   // containerd socket
	registry string   // host:port of the plain-HTTP test registry
	extra    []string // more daemon flags for every node
}

func (e ctrEnv) busybox() string { return e.registry + "/busybox:latest" }

func needContainerd(t *testing.T) ctrEnv {
	t.Helper()
	addr := testenv.ContainerdAddress(t) // skips, or fails under CI
	reg := os.Getenv("SHOAL_TEST_REGISTRY")
	if reg == "" {
		reg = "127.0.0.1:5000"
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Fatal("ctr (from Debian's containerd package) is not on PATH")
	}
	return ctrEnv{addr: addr, registry: reg}
}

// backendFlags are the daemon flags that put a node on the containerd backend.
func (e ctrEnv) backendFlags() []string {
	return append([]string{"--backend", "containerd", "--containerd-address", e.addr,
		"--insecure-registry", e.registry, "--insecure-registry", "127.0.0.1:5999"}, e.extra...)
}

// ctrNode is one node of a containerd cluster (the manager included).
type ctrNode struct {
	name, dir, addr, nodeID string
	p                       *proc
}

func (n *ctrNode) ns() string     { return containerd.NodeNamespace(n.nodeID) }
func (n *ctrNode) bridge() string { return containerd.DefaultBridgeName(n.ns()) }

// ctrCluster is a manager and workers on the containerd backend.
type ctrCluster struct {
	t   *testing.T
	env ctrEnv
	c   *cluster
	m   *manager
	all []*ctrNode // the manager first
}

// newCtrCluster starts a manager (drained when drain is set) and workers named
// w1, w2, ... and waits until every node is READY.
func newCtrCluster(t *testing.T, env ctrEnv, workers int, drain bool) *ctrCluster {
	t.Helper()
	return newCtrClusterOn(t, env, nil, workers, drain)
}

// newCtrClusterOn is newCtrCluster with node i (the manager first) in test
// host i of hosts, listening on its address (nil: all on this machine).
func newCtrClusterOn(t *testing.T, env ctrEnv, hosts *testhost.Net, workers int, drain bool) *ctrCluster {
	t.Helper()
	cc := &ctrCluster{t: t, env: env}
	cc.c = newCluster(t, env.backendFlags()...)
	// Registered after the temp dir and before any process starts: it runs after the
	// processes are killed and before the node dirs (their containerd state) go.
	t.Cleanup(cc.cleanup)
	on := func(i int) (*testhost.Host, string) {
		if hosts == nil {
			return nil, freeAddr(t)
		}
		h := hosts.Hosts()[i]
		return h, h.HostPort(4242)
	}
	h0, addr0 := on(0)
	cc.m = cc.c.initOn(h0, addr0, "m", "--raft-tick", "50ms")
	cc.all = append(cc.all, &ctrNode{name: "m", dir: cc.m.dir, addr: cc.m.addr, nodeID: cc.m.nodeID, p: cc.m.proc})
	if drain {
		mustRun(t, "--data-dir", cc.m.dir, "node", "update", "--availability", "drain", cc.m.nodeID)
	}
	tok := strings.TrimSpace(mustRun(t, "--data-dir", cc.m.dir, "join-token", "worker", "-q"))
	for i := 1; i <= workers; i++ {
		h, addr := on(i)
		w := &ctrNode{name: fmt.Sprintf("w%d", i), addr: addr}
		w.dir = filepath.Join(cc.c.base, w.name)
		args := append([]string{"join", "--data-dir", w.dir, "--listen-addr", w.addr, "--hostname", w.name, "--token", tok, cc.m.addr}, env.backendFlags()...)
		w.p = startProcOn(t, h, cc.c.base, w.name, args...)
		cc.all = append(cc.all, w)
	}
	for _, w := range cc.all[1:] {
		d := eventually(t, waitTimeout, w.name+" is READY", func() error {
			if !w.p.running() {
				return fmt.Errorf("process exited:\n%s", tail(w.p.logPath, 20))
			}
			n, err := nodeByName(t, cc.m, w.name)
			if err != nil {
				return err
			}
			w.nodeID = n.GetId()
			if s := n.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_READY {
				return fmt.Errorf("%s is %v", w.name, s)
			}
			return nil
		})
		t.Logf("%s (%s) ready after %s", w.name, w.nodeID, d.Round(time.Millisecond))
	}
	return cc
}

// with returns the cluster for use in subtest t (helpers fail t, not the parent).
func (cc *ctrCluster) with(t *testing.T) *ctrCluster {
	c := *cc
	c.t = t
	return &c
}

func (cc *ctrCluster) node(name string) *ctrNode {
	for _, n := range cc.all {
		if n.name == name {
			return n
		}
	}
	cc.t.Fatalf("no node %s", name)
	return nil
}

func (cc *ctrCluster) byID(id string) *ctrNode {
	for _, n := range cc.all {
		if n.nodeID == id {
			return n
		}
	}
	return nil
}

// cli runs the CLI against the manager.
func (cc *ctrCluster) cli(args ...string) result {
	cc.t.Helper()
	return cc.m.cli(cc.t, args...)
}

func (cc *ctrCluster) mustCLI(args ...string) string {
	cc.t.Helper()
	r := cc.cli(args...)
	if r.Code != 0 {
		cc.t.Fatalf("%s", r)
	}
	return r.Stdout
}

// tasks reads `service ps SVC --format json` through the manager.
func (cc *ctrCluster) tasks(svc string) ([]*shoalv1.Task, error) {
	cc.t.Helper()
	return serviceTasks(cc.t, cc.m, svc)
}

// waitRunning waits until svc has exactly n tasks meant to run, all RUNNING with
// an address, and returns them.
func (cc *ctrCluster) waitRunning(svc string, n int) []*shoalv1.Task {
	cc.t.Helper()
	var out []*shoalv1.Task
	d := eventually(cc.t, 2*waitTimeout, fmt.Sprintf("%s has %d running tasks", svc, n), func() error {
		ts, err := cc.tasks(svc)
		if err != nil {
			return err
		}
		out = out[:0]
		var states []string
		for _, t := range ts {
			if !wantRunning(t) {
				continue
			}
			states = append(states, fmt.Sprintf("%s:%v(%s)", t.GetId(), t.GetStatus().GetState(), t.GetStatus().GetErr()))
			if isRunning(t) && len(t.GetStatus().GetAddresses()) > 0 {
				out = append(out, t)
			}
		}
		if len(out) != n || len(states) != n {
			return fmt.Errorf("%d of %d running with an address: %v", len(out), n, states)
		}
		return nil
	})
	cc.t.Logf("%s: %d tasks running after %s", svc, n, d.Round(time.Millisecond))
	return out
}

// ctr runs the containerd CLI on the test's containerd.
func (cc *ctrCluster) ctr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", cc.env.addr}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (cc *ctrCluster) mustCtr(args ...string) string {
	cc.t.Helper()
	out, err := cc.ctr(args...)
	if err != nil {
		cc.t.Fatal(err)
	}
	return out
}

// ctrTask is one line of `ctr task ls`.
type ctrTask struct {
	pid    int
	status string
}

// ctrTasks lists the containerd tasks of a node's namespace by container ID.
func (cc *ctrCluster) ctrTasks(n *ctrNode) map[string]ctrTask {
	cc.t.Helper()
	out := cc.mustCtr("-n", n.ns(), "task", "ls")
	ts := map[string]ctrTask{}
	for _, l := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		pid, _ := strconv.Atoi(f[1])
		ts[f[0]] = ctrTask{pid: pid, status: f[2]}
	}
	return ts
}

// lines returns the non-empty lines of a `ctr ... ls -q`.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// shims counts the containerd shims serving a namespace (zombies have no command line).
func shims(ns string) int {
	out, _ := exec.Command("pgrep", "-f", "containerd-shim.* -namespace "+ns+" ").Output()
	return len(lines(string(out)))
}

func allShims() int {
	out, _ := exec.Command("pgrep", "containerd-shim").Output()
	return len(lines(string(out)))
}

// leftovers lists what a node's namespace and state dir still hold for tasks:
// containers, containerd tasks, active (container) snapshots, shims, task state
// directories and address allocations. Image layers (committed snapshots) stay.
func (cc *ctrCluster) leftovers(n *ctrNode) error {
	var bad []string
	if cs := lines(cc.mustCtr("-n", n.ns(), "containers", "ls", "-q")); len(cs) > 0 {
		bad = append(bad, fmt.Sprintf("containers %v", cs))
	}
	if ts := lines(cc.mustCtr("-n", n.ns(), "tasks", "ls", "-q")); len(ts) > 0 {
		bad = append(bad, fmt.Sprintf("tasks %v", ts))
	}
	for i, l := range lines(cc.mustCtr("-n", n.ns(), "snapshots", "ls")) {
		if f := strings.Fields(l); i > 0 && len(f) > 0 && f[len(f)-1] != "Committed" {
			bad = append(bad, "snapshot "+l)
		}
	}
	if s := shims(n.ns()); s > 0 {
		bad = append(bad, fmt.Sprintf("%d shims", s))
	}
	if ds, _ := os.ReadDir(filepath.Join(n.dir, "containerd", "tasks")); len(ds) > 0 {
		var names []string
		for _, d := range ds {
			names = append(names, d.Name())
		}
		bad = append(bad, fmt.Sprintf("task state dirs %v", names))
	}
	if b, err := os.ReadFile(filepath.Join(n.dir, "containerd", "ipam.json")); err == nil {
		var st struct{ Alloc map[string]string }
		if json.Unmarshal(b, &st) == nil && len(st.Alloc) > 0 {
			bad = append(bad, fmt.Sprintf("addresses %v", st.Alloc))
		}
	}
	// A task's veth lives as long as its network namespace: none may stay on the bridge.
	if out, err := exec.Command("ip", "-o", "link", "show", "master", n.bridge()).Output(); err == nil && len(lines(string(out))) > 0 {
		bad = append(bad, fmt.Sprintf("bridge ports %q", lines(string(out))))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s (%s) holds %s", n.name, n.ns(), strings.Join(bad, "; "))
	}
	return nil
}

// bridgeSubnet reads the IPv4 subnet of a node's bridge ("" when it has none).
func bridgeSubnet(n *ctrNode) (netip.Prefix, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show", "dev", n.bridge()).CombinedOutput()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("ip addr show %s: %v: %s", n.bridge(), err, out)
	}
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "inet" && i+1 < len(f) {
			p, err := netip.ParsePrefix(f[i+1])
			if err != nil {
				return netip.Prefix{}, err
			}
			return p.Masked(), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("bridge %s has no IPv4 address: %s", n.bridge(), out)
}

// httpBody GETs url once.
func httpBody(url string) (string, error) {
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// webCmd serves the container's hostname (the task ID's first 12 characters) on :8080.
var webCmd = []string{"sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"}

// checkHTTP asks every task on its own address and expects its own hostname back.
func (cc *ctrCluster) checkHTTP(ts []*shoalv1.Task) {
	cc.t.Helper()
	for _, task := range ts {
		addr := task.GetStatus().GetAddresses()[0]
		want := task.GetId()[:min(12, len(task.GetId()))]
		url := "http://" + addr + ":8080/"
		eventually(cc.t, waitTimeout, "GET "+url, func() error {
			body, err := httpBody(url)
			if err != nil {
				return err
			}
			if strings.TrimSpace(body) != want {
				return fmt.Errorf("task %s at %s answered %q, want its hostname %q", task.GetId(), addr, body, want)
			}
			return nil
		})
	}
}

// killOnly SIGKILLs the node's shoal process alone (not its process group).
// restartNode runs `shoal run` again for a node whose process exited and
// waits until the node is READY again.
func (cc *ctrCluster) restartNode(n *ctrNode) {
	t := cc.t
	t.Helper()
	n.p.restart(append([]string{"run", "--data-dir", n.dir}, cc.env.backendFlags()...)...)
	eventually(t, waitTimeout, n.name+" is READY again", func() error {
		if !n.p.running() {
			return fmt.Errorf("%s exited:\n%s", n.name, tail(n.p.logPath, 20))
		}
		nd, err := nodeByName(t, cc.m, n.name)
		if err != nil {
			return err
		}
		if s := nd.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("%s is %v", n.name, s)
		}
		return nil
	})
}

func killOnly(p *proc) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited()
}

// cleanup removes what the nodes left in containerd (containers, tasks, images,
// the namespaces themselves) and on the host (network namespaces, bridges).
func (cc *ctrCluster) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range cc.all {
		if n.nodeID == "" {
			continue
		}
		if err := removeNamespace(ctx, cc.env.addr, n.ns(), filepath.Join(n.dir, "containerd")); err != nil {
			cc.t.Logf("cleanup %s: %v", n.ns(), err)
		}
		_ = exec.Command("ip", "link", "delete", n.bridge()).Run()
		// The node's overlay sandboxes (core/node: shoal-ov-<node id[:8]>-<network>).
		sandboxes, _ := filepath.Glob("/var/run/netns/shoal-ov-" + n.nodeID[:min(8, len(n.nodeID))] + "-*")
		for _, sb := range sandboxes {
			_ = exec.Command("ip", "netns", "delete", filepath.Base(sb)).Run()
		}
	}
}

func removeNamespace(ctx context.Context, addr, ns, stateDir string) error {
	b, err := containerd.New(ctx, containerd.Config{Address: addr, Namespace: ns, StateDir: stateDir}, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	var errs []error
	ids, err := b.List(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		c, err := b.Controller(&runtime.TaskSpec{TaskID: id, Kind: runtime.KindContainer})
		if err == nil {
			err = c.Remove(ctx)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	nctx := namespaces.WithNamespace(ctx, ns)
	is := b.Client().ImageService()
	imgs, err := is.List(nctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, im := range imgs {
		if err := is.Delete(nctx, im.Name, images.SynchronousDelete()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.Client().NamespaceService().Delete(nctx, ns); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("namespace left behind: %w", err))
	}
	return errors.Join(errs...)
}

// TestContainerdService: a web service on two containerd workers answers on each
// task's own address; it scales up and down; a container killed by hand is
// replaced; a worker agent killed with SIGKILL and restarted re-adopts its
// running containers; removing the service leaves nothing behind.
func TestContainerdService(t *testing.T) {
	env := needContainerd(t)
	shimsBefore := allShims()
	cc := newCtrCluster(t, env, 2, true)
	w1, w2 := cc.node("w1"), cc.node("w2")

	args := append([]string{"service", "create", "--detach", "--name", "web", "--replicas", "4",
		"--stop-grace-period", "2s", "--restart-delay", "1s", env.busybox(), "--"}, webCmd...)
	cc.mustCLI(args...)
	ts := cc.waitRunning("web", 4)
	checkPlacement(t, cc, ts)
	cc.checkHTTP(ts)

	// Two workers on one host: two bridges, two subnets that do not overlap, and
	// each task's address inside its own node's subnet.
	p1, err := bridgeSubnet(w1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := bridgeSubnet(w2)
	if err != nil {
		t.Fatal(err)
	}
	if w1.bridge() == w2.bridge() || p1.Overlaps(p2) {
		t.Fatalf("w1 bridge %s %s and w2 bridge %s %s conflict", w1.bridge(), p1, w2.bridge(), p2)
	}
	t.Logf("bridges: w1 %s %s, w2 %s %s", w1.bridge(), p1, w2.bridge(), p2)
	for _, task := range ts {
		want := p1
		if task.GetNodeId() == w2.nodeID {
			want = p2
		}
		if a := netip.MustParseAddr(task.GetStatus().GetAddresses()[0]); !want.Contains(a) {
			t.Fatalf("task %s on %s has %s, outside its bridge's %s", task.GetId(), cc.byID(task.GetNodeId()).name, a, want)
		}
	}

	t.Run("scale", func(t *testing.T) {
		cc := cc.with(t)
		cc.mustCLI("service", "scale", "--detach", "web=6")
		ts := cc.waitRunning("web", 6)
		checkPlacement(t, cc, ts)
		cc.checkHTTP(ts)
		cc.mustCLI("service", "scale", "--detach", "web=2")
		kept := cc.waitRunning("web", 2)
		// The other four stop for real: SHUTDOWN reported, containers no longer running.
		eventually(t, 2*waitTimeout, "the scaled-down tasks are shut down", func() error {
			all, err := cc.tasks("web")
			if err != nil {
				return err
			}
			running := map[string]bool{}
			for _, n := range []*ctrNode{w1, w2} {
				for id, ct := range cc.ctrTasks(n) {
					if ct.status == "RUNNING" {
						running[id] = true
					}
				}
			}
			for _, task := range all {
				if wantRunning(task) {
					continue
				}
				if s := task.GetStatus().GetState(); s < shoalv1.TaskState_TASK_STATE_COMPLETE {
					return fmt.Errorf("task %s desired %v is still %v", task.GetId(), task.GetDesiredState(), s)
				}
				if running[task.GetId()] {
					return fmt.Errorf("task %s is %v but its container still runs", task.GetId(), task.GetStatus().GetState())
				}
			}
			if len(running) != 2 {
				return fmt.Errorf("%d containers running, want 2", len(running))
			}
			return nil
		})
		cc.checkHTTP(kept)
	})

	t.Run("container killed by hand is replaced", func(t *testing.T) {
		cc := cc.with(t)
		ts := cc.waitRunning("web", 2)
		victim := ts[0]
		n := cc.byID(victim.GetNodeId())
		cc.mustCtr("-n", n.ns(), "task", "kill", "-s", "SIGKILL", victim.GetId())
		var repl *shoalv1.Task
		d := eventually(t, 2*waitTimeout, "the killed task is FAILED and replaced", func() error {
			all, err := cc.tasks("web")
			if err != nil {
				return err
			}
			repl = nil
			for _, task := range all {
				if task.GetId() == victim.GetId() {
					if s := task.GetStatus().GetState(); s != shoalv1.TaskState_TASK_STATE_FAILED {
						return fmt.Errorf("killed task is %v", s)
					}
					if c := task.GetStatus().GetExitCode(); c != 137 {
						return fmt.Errorf("killed task exit code %d, want 137", c)
					}
					continue
				}
				if task.GetSlot() == victim.GetSlot() && wantRunning(task) && isRunning(task) {
					repl = task
				}
			}
			if repl == nil {
				return errors.New("no running replacement in the slot yet")
			}
			return nil
		})
		t.Logf("task %s killed by hand; replaced by %s after %s", victim.GetId(), repl.GetId(), d.Round(time.Millisecond))
		cc.checkHTTP(cc.waitRunning("web", 2))
	})

	t.Run("agent killed and restarted re-adopts", func(t *testing.T) {
		cc := cc.with(t)
		cc.mustCLI("service", "scale", "--detach", "web=4")
		ts := cc.waitRunning("web", 4)
		onW1 := map[string]int{} // task ID -> container PID
		ctrW1 := cc.ctrTasks(w1)
		for _, task := range ts {
			if task.GetNodeId() == w1.nodeID {
				ct := ctrW1[task.GetId()]
				if ct.status != "RUNNING" || ct.pid == 0 {
					t.Fatalf("task %s: containerd says %+v", task.GetId(), ct)
				}
				onW1[task.GetId()] = ct.pid
			}
		}
		if len(onW1) == 0 {
			t.Fatalf("no task on w1: %v", ts)
		}
		killOnly(w1.p)
		time.Sleep(time.Second)
		for id, pid := range onW1 {
			if ct := cc.ctrTasks(w1)[id]; ct.status != "RUNNING" || ct.pid != pid {
				t.Fatalf("with the agent dead, container %s is %+v, want RUNNING pid %d", id, ct, pid)
			}
		}
		cc.restartNode(w1)
		// Give the new agent time to report; nothing may change meanwhile.
		time.Sleep(3 * time.Second)
		after := cc.waitRunning("web", 4)
		var ids []string
		for _, task := range after {
			ids = append(ids, task.GetId())
		}
		for id, pid := range onW1 {
			if !slices.Contains(ids, id) {
				t.Fatalf("task %s of w1 was replaced across the agent restart: now %v", id, ids)
			}
			if ct := cc.ctrTasks(w1)[id]; ct.status != "RUNNING" || ct.pid != pid {
				t.Fatalf("container %s is %+v after the restart, want the same RUNNING pid %d", id, ct, pid)
			}
		}
		cc.checkHTTP(after)
		// The new agent watches the adopted containers: one that dies is reported.
		var adopted string
		for id := range onW1 {
			adopted = id
			break
		}
		cc.mustCtr("-n", w1.ns(), "task", "kill", "-s", "SIGKILL", adopted)
		eventually(t, 2*waitTimeout, "the adopted task's death is reported", func() error {
			all, err := cc.tasks("web")
			if err != nil {
				return err
			}
			for _, task := range all {
				if task.GetId() == adopted {
					if s := task.GetStatus().GetState(); s != shoalv1.TaskState_TASK_STATE_FAILED {
						return fmt.Errorf("adopted task is %v", s)
					}
					return nil
				}
			}
			return fmt.Errorf("task %s gone from service ps", adopted)
		})
		cc.waitRunning("web", 4)
	})

	t.Run("rm leaves nothing behind", func(t *testing.T) {
		cc := cc.with(t)
		cc.mustCLI("service", "rm", "web")
		d := eventually(t, 2*waitTimeout, "nothing of web is left in containerd", func() error {
			var errs []error
			for _, n := range cc.all {
				errs = append(errs, cc.leftovers(n))
			}
			return errors.Join(errs...)
		})
		t.Logf("containers, snapshots, shims, addresses gone %s after service rm", d.Round(time.Millisecond))
		if r := cc.cli("service", "ps", "web"); r.Code == 0 {
			t.Fatalf("service ps after rm: %s", r)
		}
		// Other packages' tests may run shims at the same time: only the count of this
		// test's namespaces (checked above) must be zero; the host's is logged.
		deadline := time.Now().Add(30 * time.Second)
		for allShims() > shimsBefore && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("containerd-shim processes on the host: %d before the cluster, %d now", shimsBefore, allShims())
	})
}

// checkPlacement: tasks only on the workers (the manager is drained), addresses unique.
func checkPlacement(t *testing.T, cc *ctrCluster, ts []*shoalv1.Task) {
	t.Helper()
	seen := map[string]string{}
	for _, task := range ts {
		if n := cc.byID(task.GetNodeId()); n == nil || n.name == "m" {
			t.Fatalf("task %s placed on %q", task.GetId(), task.GetNodeId())
		}
		a := task.GetStatus().GetAddresses()[0]
		if other, dup := seen[a]; dup {
			t.Fatalf("tasks %s and %s share address %s", other, task.GetId(), a)
		}
		seen[a] = task.GetId()
	}
}
