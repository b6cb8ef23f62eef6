package chaos

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/shoal-project/shoal/internal/client"
	"github.com/shoal-project/shoal/internal/testhost"
)

const (
	// electionTimeoutMax is Raft's longest election timeout with the
	// default 100 ms tick (10 ticks, randomised up to twice that).
	electionTimeoutMax = 2 * time.Second
	// callTimeout bounds every client call.
	callTimeout = 5 * time.Second
	// waitTimeout bounds waits for the cluster (start, convergence).
	waitTimeout = 90 * time.Second
	port        = 4242
	// diskSize is the tmpfs under the full-disk manager's data dir.
	diskSize = "256m"
)

// node is one shoal process in its test host; restarts append to its log.
type node struct {
	name, dir, logPath string
	host               *testhost.Host
	manager            bool
	api                *client.Client // managers: the admin socket
	bin                string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (n *node) addr() string { return n.host.HostPort(port) }

func (n *node) start(args ...string) error {
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== %s: shoal %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := n.host.Command(n.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	return nil
}

// restart starts the node again from its data dir if it is not running.
func (n *node) restart() error {
	if n.running() {
		return nil
	}
	return n.start("run", "--data-dir", n.dir)
}

func (n *node) running() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return false // never started
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig to the node's process group.
func (n *node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if n.running() {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
	}
}

// kill sends SIGKILL (and SIGCONT, for a paused one) and waits until it is gone.
func (n *node) kill() {
	if !n.running() {
		return
	}
	n.signal(syscall.SIGKILL)
	n.signal(syscall.SIGCONT)
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	<-done
}

// cluster is 3 managers and 2 workers, each in its own test host; the
// third manager's data dir is a small tmpfs (the full-disk nemesis).
type cluster struct {
	t        *testing.T
	dir      string
	net      *testhost.Net
	managers []*node
	workers  []*node
}

func (c *cluster) nodes() []*node { return append(append([]*node(nil), c.managers...), c.workers...) }

// newCluster starts the cluster with binary bin under dir (kept on failure).
func newCluster(t *testing.T, bin, dir string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: dir, net: testhost.New(t, "m1", "m2", "m3", "w1", "w2")}
	for _, h := range c.net.Hosts() {
		n := &node{name: h.Name, dir: filepath.Join(dir, h.Name), logPath: filepath.Join(dir, h.Name+".log"), host: h, manager: h.Name[0] == 'm', bin: bin}
		if n.manager {
			c.managers = append(c.managers, n)
		} else {
			c.workers = append(c.workers, n)
		}
	}
	c.mountDisk(c.managers[2])
	t.Cleanup(func() {
		for _, n := range c.nodes() {
			n.kill()
		}
	})
	m1 := c.managers[0]
	c.must(m1.start("init", "--data-dir", m1.dir, "--listen-addr", m1.addr(), "--hostname", m1.name,
		"--backend", "sim", "--heartbeat-period", "1s"))
	c.waitManager(m1)
	tokens := c.tokens()
	for _, m := range c.managers[1:] {
		c.must(m.start("join", "--data-dir", m.dir, "--listen-addr", m.addr(), "--hostname", m.name, "--backend", "sim", "--token", tokens.GetManager(), m1.addr()))
		c.waitManager(m)
	}
	for _, w := range c.workers {
		c.must(w.start("join", "--data-dir", w.dir, "--listen-addr", w.addr(), "--hostname", w.name, "--backend", "sim", "--token", tokens.GetWorker(), m1.addr()))
	}
	c.eventually("3 voters and 5 nodes ready", func() error { return c.healthy(m1) })
	return c
}

func (c *cluster) must(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
}

// mountDisk puts a small tmpfs under n's data dir; it is unmounted at the
// end (after the processes are gone: cleanups run last-in first-out).
func (c *cluster) mountDisk(n *node) {
	c.must(os.MkdirAll(n.dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+diskSize, "shl-chaos", n.dir).CombinedOutput(); err != nil {
		c.t.Fatalf("mount a tmpfs on %s: %v: %s", n.dir, err, out)
	}
	c.t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", n.dir).CombinedOutput(); err != nil {
			c.t.Logf("umount %s: %v: %s", n.dir, err, out)
		}
	})
}

func (c *cluster) eventually(what string, f func() error) time.Duration {
	c.t.Helper()
	d, err := poll(waitTimeout, f)
	if err != nil {
		c.t.Fatalf("%s: not true after %s: %v", what, waitTimeout, err)
	}
	return d
}

// poll calls f every 100 ms until it returns nil or d passes.
func poll(d time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > d {
			return time.Since(start), err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitManager waits until m's admin socket answers from its own store.
func (c *cluster) waitManager(m *node) {
	c.t.Helper()
	c.eventually(m.name+" answers", func() error {
		if !m.running() {
			return fmt.Errorf("%s exited; log: %s", m.name, m.logPath)
		}
		if m.api == nil {
			api, err := client.New(client.Options{DataDir: m.dir, Timeout: callTimeout})
			if err != nil {
				return err
			}
			m.api = api
		}
		_, err := c.listNodes(m, true)
		return err
	})
}

// tokens waits for the join tokens (the first manager writes the cluster
// object a moment after it answers).
func (c *cluster) tokens() *shoalv1.JoinTokens {
	c.t.Helper()
	var tokens *shoalv1.JoinTokens
	c.eventually("join tokens", func() error {
		res, err := c.managers[0].api.Control.GetJoinTokens(context.Background(), connect.NewRequest(&shoalv1.GetJoinTokensRequest{}))
		if err != nil {
			return err
		}
		tokens = res.Msg.GetTokens()
		return nil
	})
	return tokens
}

// localClient is the admin socket of m with reads from its own store.
func localClient(m *node) (*client.Client, error) {
	return client.New(client.Options{DataDir: m.dir, Timeout: callTimeout, LocalRead: true})
}

func (c *cluster) listNodes(m *node, local bool) ([]*shoalv1.Node, error) {
	api := m.api
	if local {
		var err error
		if api, err = localClient(m); err != nil {
			return nil, err
		}
	}
	res, err := api.Control.ListNodes(context.Background(), connect.NewRequest(&shoalv1.ListNodesRequest{}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetNodes(), nil
}

// healthy: through m, 3 reachable voters, one leader, every node READY.
func (c *cluster) healthy(m *node) error {
	nodes, err := c.listNodes(m, false)
	if err != nil {
		return err
	}
	if len(nodes) != 5 {
		return fmt.Errorf("%d nodes listed", len(nodes))
	}
	voters, leaders := 0, 0
	for _, n := range nodes {
		if s := n.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("%s is %v", n.GetDescription().GetHostname(), s)
		}
		ms := n.GetManagerStatus()
		if ms == nil {
			continue
		}
		if ms.GetReachability() == shoalv1.Reachability_REACHABILITY_REACHABLE && !ms.GetLearner() {
			voters++
		}
		if ms.GetLeader() {
			leaders++
		}
	}
	if voters != 3 || leaders != 1 {
		return fmt.Errorf("%d reachable voters, %d leaders", voters, leaders)
	}
	return nil
}

// leader returns the manager its peers name leader, or nil.
func (c *cluster) leader() *node {
	for _, m := range c.managers {
		nodes, err := c.listNodes(m, true)
		if err != nil {
			continue
		}
		for _, n := range nodes {
			if n.GetManagerStatus().GetLeader() {
				return c.byName(n.GetDescription().GetHostname())
			}
		}
	}
	return nil
}

func (c *cluster) byName(name string) *node {
	for _, n := range c.nodes() {
		if n.name == name {
			return n
		}
	}
	return nil
}

// restartExited starts every node whose process is gone again.
func (c *cluster) restartExited() []string {
	var out []string
	for _, n := range c.nodes() {
		if !n.running() {
			out = append(out, n.name)
			c.must(n.restart())
		}
	}
	return out
}

var errNoLeader = errors.New("no manager names a leader")
