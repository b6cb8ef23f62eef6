package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/client"
	"github.com/shoal-project/shoal/internal/testhost"
)

// shoalBin is the binary under test: built once by TestMain, or taken from
// SHOAL_E2E_BIN (handy while the working tree does not build).
var shoalBin string

// Timeouts are generous: CI is a noisy 2-core machine. Tests assert
// behaviour within these bounds and log the durations they measure.
const (
	startTimeout = 60 * time.Second
	waitTimeout  = 60 * time.Second
	cliTimeout   = 60 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if b := os.Getenv("SHOAL_E2E_BIN"); b != "" {
		shoalBin = b
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "shoal-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: repo root:", err)
		return 1
	}
	shoalBin = filepath.Join(dir, "shoal")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", shoalBin, "./cmd/shoal")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/shoal:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", shoalBin, time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// proc is one shoal daemon process. Restarts append to the same log file.
type proc struct {
	t       testing.TB
	name    string
	logPath string
	// on is the test host the process runs in (nil: this machine's own
	// network namespace).
	on *testhost.Host

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startProc starts `shoal args...` with output to dir/name.log. The process
// is killed at cleanup; on failure the log tail is printed.
func startProc(t testing.TB, logDir, name string, args ...string) *proc {
	t.Helper()
	return startProcOn(t, nil, logDir, name, args...)
}

// startProcOn is startProc inside test host h (nil: this machine).
func startProcOn(t testing.TB, h *testhost.Host, logDir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, logPath: filepath.Join(logDir, name+".log"), on: h}
	p.start(args...)
	t.Cleanup(func() {
		p.kill()
		// Process tasks run under shims in their own sessions: a killed
		// daemon leaves them running. Reap those of this node's data dir.
		for i, a := range args {
			if a == "--data-dir" && i+1 < len(args) {
				plReap(t, args[i+1], nil)
			}
		}
		if t.Failed() {
			t.Logf("---- log tail of %s (%s) ----\n%s", name, p.logPath, tail(p.logPath, 40))
		}
	})
	return p
}

func (p *proc) start(args ...string) {
	p.t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("log file: %v", err)
	}
	fmt.Fprintf(f, "==== %s: shoal %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(shoalBin, args...)
	if p.on != nil {
		cmd = p.on.Command(shoalBin, args...)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// restart starts the process again (it must have exited) with args.
func (p *proc) restart(args ...string) {
	p.t.Helper()
	if p.running() {
		p.t.Fatalf("restart %s: still running", p.name)
	}
	p.start(args...)
}

func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// exited returns a channel closed when the current process exits.
func (p *proc) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	select {
	case <-done:
		return
	default:
	}
	// The whole process group: shims the node may have started go too.
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited()
}

// stop sends SIGTERM and waits up to 30 s, then kills.
func (p *proc) stop() error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited():
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-time.After(30 * time.Second):
		p.kill()
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// result is what one CLI run gave.
type result struct {
	Stdout, Stderr string
	Code           int
	Args           []string
}

func (r result) String() string {
	return fmt.Sprintf("shoal %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// run runs `shoal args...` to completion.
func run(t testing.TB, args ...string) result {
	t.Helper()
	return runTimeout(t, cliTimeout, args...)
}

func runTimeout(t testing.TB, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := execCLI(ctx, args...)
	if err != nil {
		t.Fatalf("shoal %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("shoal %s: did not finish within %s\n%s", strings.Join(args, " "), d, r)
	}
	return r
}

// execCLI runs `shoal args...` until it exits or ctx ends; err is set only
// when it could not be run.
func execCLI(ctx context.Context, args ...string) (result, error) {
	cmd := exec.CommandContext(ctx, shoalBin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{Stdout: so.String(), Stderr: se.String(), Args: args}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code, err = ee.ExitCode(), nil
	}
	return r, err
}

// mustRun runs the CLI and fails the test on a non-zero exit.
func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	r := run(t, args...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	return r.Stdout
}

// eventually polls f every 100 ms until it returns nil or d passes, and
// returns how long it took.
func eventually(t testing.TB, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for {
		if err = f(); err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not true after %s: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parseList reads the JSON array of protobuf messages that `--format json`
// prints (what names the kind in errors: "node", "task", "service").
func parseList[T any, P interface {
	*T
	proto.Message
}](out, what string) ([]P, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal([]byte(out), &raws); err != nil {
		return nil, fmt.Errorf("parse %s JSON: %w: %q", what, err, out)
	}
	list := make([]P, 0, len(raws))
	for _, r := range raws {
		m := P(new(T))
		if err := protojson.Unmarshal(r, m); err != nil {
			return nil, fmt.Errorf("parse %s: %w", what, err)
		}
		list = append(list, m)
	}
	return list, nil
}

// parseNodes reads `node ls --format json` / `node inspect` output.
func parseNodes(out string) ([]*shoalv1.Node, error) {
	return parseList[shoalv1.Node](out, "node")
}

// serviceTasks lists a service's tasks through m (`service ps --format json`).
func serviceTasks(t testing.TB, m *manager, svc string) ([]*shoalv1.Task, error) {
	t.Helper()
	r := m.cli(t, "service", "ps", svc, "--format", "json")
	if r.Code != 0 {
		return nil, fmt.Errorf("service ps %s via %s: %s", svc, m.name, strings.TrimSpace(r.Stderr))
	}
	return parseList[shoalv1.Task](r.Stdout, "task")
}

// wantRunning reports whether tk is meant to run.
func wantRunning(tk *shoalv1.Task) bool {
	return tk.GetDesiredState() == shoalv1.TaskState_TASK_STATE_RUNNING
}

// isRunning reports whether tk is observed RUNNING.
func isRunning(tk *shoalv1.Task) bool {
	return tk.GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_RUNNING
}

// manager is a manager node started by the harness.
type manager struct {
	*proc
	name   string
	dir    string
	addr   string
	nodeID string
}

// cluster is a set of nodes under one temp dir.
type cluster struct {
	t        testing.TB
	base     string
	extra    []string // daemon flags for every node
	managers []*manager
}

func newCluster(t testing.TB, extraFlags ...string) *cluster {
	return &cluster{t: t, base: t.TempDir(), extra: extraFlags}
}

// init starts the first manager with `shoal init` and waits until it answers.
func (c *cluster) init(name string, flags ...string) *manager {
	c.t.Helper()
	return c.initOn(nil, freeAddr(c.t), name, flags...)
}

// initOn is init inside test host h (nil: this machine), listening on addr.
func (c *cluster) initOn(h *testhost.Host, addr, name string, flags ...string) *manager {
	c.t.Helper()
	m := &manager{name: name, dir: filepath.Join(c.base, name), addr: addr}
	args := append([]string{"init", "--data-dir", m.dir, "--listen-addr", m.addr, "--hostname", name}, c.extra...)
	args = append(args, flags...)
	m.proc = startProcOn(c.t, h, c.base, name, args...)
	c.waitReady(m)
	c.managers = append(c.managers, m)
	return m
}

// joinManager starts `shoal join` with the manager token through via.
func (c *cluster) joinManager(name string, via *manager) *manager {
	c.t.Helper()
	return c.joinManagerOn(nil, freeAddr(c.t), name, via)
}

// joinManagerOn is joinManager inside test host h (nil: this machine),
// listening on addr.
func (c *cluster) joinManagerOn(h *testhost.Host, addr, name string, via *manager) *manager {
	c.t.Helper()
	tok := strings.TrimSpace(mustRun(c.t, "--data-dir", via.dir, "join-token", "manager", "-q"))
	m := &manager{name: name, dir: filepath.Join(c.base, name), addr: addr}
	args := append([]string{"join", "--data-dir", m.dir, "--listen-addr", m.addr, "--hostname", name, "--token", tok, via.addr}, c.extra...)
	m.proc = startProcOn(c.t, h, c.base, name, args...)
	c.waitReady(m)
	c.managers = append(c.managers, m)
	return m
}

// joinWorker starts `shoal join` with via's worker token, listening on addr
// (the daemon's default if empty), and waits until via lists the node READY.
// The returned manager value only carries the node's name, dir, addr,
// process and ID (a worker has no admin socket).
func (c *cluster) joinWorker(t testing.TB, name, addr string, via *manager, flags ...string) *manager {
	t.Helper()
	tok := strings.TrimSpace(mustRun(t, "--data-dir", via.dir, "join-token", "worker", "-q"))
	w := &manager{name: name, dir: filepath.Join(c.base, name), addr: addr}
	args := []string{"join", "--data-dir", w.dir}
	if addr != "" {
		args = append(args, "--listen-addr", addr)
	}
	args = append(args, "--hostname", name, "--token", tok, via.addr)
	w.proc = startProc(t, c.base, name, append(args, flags...)...)
	d := eventually(t, startTimeout, name+" is listed READY", func() error {
		if !w.running() {
			return fmt.Errorf("process exited:\n%s", tail(w.logPath, 20))
		}
		n, err := nodeByName(t, via, name)
		if err != nil {
			return err
		}
		w.nodeID = n.GetId()
		if s := n.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("%s is %v", name, s)
		}
		return nil
	})
	t.Logf("worker %s (%s) ready after %s", name, w.nodeID, d.Round(time.Millisecond))
	return w
}

// nodeByName finds the node with hostname or ID ref in m's (leader) view.
func nodeByName(t testing.TB, m *manager, ref string) (*shoalv1.Node, error) {
	t.Helper()
	nodes, err := m.nodes(t, false)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.GetDescription().GetHostname() == ref || n.GetId() == ref {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no node %s", ref)
}

// waitReady waits until m's own store answers and names m.
func (c *cluster) waitReady(m *manager) {
	c.t.Helper()
	d := eventually(c.t, startTimeout, m.name+" answers on its admin socket", func() error {
		if !m.running() {
			return fmt.Errorf("process exited:\n%s", tail(m.logPath, 20))
		}
		r := runTimeout(c.t, cliTimeout, "--data-dir", m.dir, "--local", "node", "ls", "--format", "json")
		if r.Code != 0 {
			return errors.New(r.Stderr)
		}
		nodes, err := parseNodes(r.Stdout)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.GetDescription().GetHostname() == m.name {
				m.nodeID = n.GetId()
				return nil
			}
		}
		return fmt.Errorf("%s not in its own node list yet", m.name)
	})
	c.t.Logf("%s (%s, %s) ready after %s", m.name, m.nodeID, m.addr, d.Round(time.Millisecond))
}

// cli runs the CLI against m's admin socket.
func (m *manager) cli(t testing.TB, args ...string) result {
	t.Helper()
	return run(t, append([]string{"--data-dir", m.dir}, args...)...)
}

// nodes lists nodes through m (local: from m's own store).
func (m *manager) nodes(t testing.TB, local bool) ([]*shoalv1.Node, error) {
	t.Helper()
	args := []string{"--data-dir", m.dir}
	if local {
		args = append(args, "--local")
	}
	r := run(t, append(args, "node", "ls", "--format", "json")...)
	if r.Code != 0 {
		return nil, fmt.Errorf("node ls via %s: %s", m.name, strings.TrimSpace(r.Stderr))
	}
	return parseNodes(r.Stdout)
}

// inspect reads one node through m.
func (m *manager) inspect(t testing.TB, local bool, ref string) (*shoalv1.Node, error) {
	t.Helper()
	args := []string{"--data-dir", m.dir}
	if local {
		args = append(args, "--local")
	}
	r := run(t, append(args, "node", "inspect", ref)...)
	if r.Code != 0 {
		return nil, fmt.Errorf("node inspect via %s: %s", m.name, strings.TrimSpace(r.Stderr))
	}
	ns, err := parseNodes(r.Stdout)
	if err != nil {
		return nil, err
	}
	if len(ns) != 1 {
		return nil, fmt.Errorf("node inspect %s: %d nodes", ref, len(ns))
	}
	return ns[0], nil
}

// apiClient is the Go API client on m's admin socket.
func (m *manager) apiClient(t testing.TB, local bool) *client.Client {
	t.Helper()
	cl, err := client.New(client.Options{DataDir: m.dir, LocalRead: local})
	if err != nil {
		t.Fatalf("client for %s: %v", m.name, err)
	}
	return cl
}

// leaderOf returns the node ID the list names as the Raft leader ("" if none)
// and how many managers it lists as reachable voters (a manager still
// joining as a Raft learner does not count).
func leaderOf(nodes []*shoalv1.Node) (leader string, reachable int) {
	for _, n := range nodes {
		ms := n.GetManagerStatus()
		if ms == nil {
			continue
		}
		if ms.GetLeader() {
			leader = n.GetId()
		}
		if ms.GetReachability() == shoalv1.Reachability_REACHABILITY_REACHABLE && !ms.GetLearner() {
			reachable++
		}
	}
	return leader, reachable
}

func (c *cluster) byID(id string) *manager {
	for _, m := range c.managers {
		if m.nodeID == id {
			return m
		}
	}
	return nil
}
