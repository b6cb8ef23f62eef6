package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestRoles: a worker is promoted to a manager and demoted back, survives a
// restart in each role, is seen down once stopped and can then be removed.
func TestRoles(t *testing.T) {
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", "1s")

	wtok := strings.TrimSpace(mustRun(t, "--data-dir", m1.dir, "join-token", "worker", "-q"))
	w := &manager{name: "w1", dir: filepath.Join(c.base, "w1"), addr: freeAddr(t)}
	w.proc = startProc(t, c.base, "w1", "join", "--data-dir", w.dir, "--listen-addr", w.addr, "--hostname", "w1", "--token", wtok, m1.addr)
	d := eventually(t, waitTimeout, "the worker is listed and ready", func() error {
		n, err := nodeByName(t, m1, "w1")
		if err != nil {
			return err
		}
		w.nodeID = n.GetId()
		if n.GetRole() != shoalv1.NodeRole_NODE_ROLE_WORKER || n.GetManagerStatus() != nil {
			return fmt.Errorf("w1: role %v, manager status %v", n.GetRole(), n.GetManagerStatus())
		}
		if s := n.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("w1 is %v", s)
		}
		return nil
	})
	t.Logf("worker %s ready after %s", w.nodeID, d.Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(w.dir, "shoal.sock")); err == nil {
		t.Fatalf("a worker has an admin socket")
	}

	// Promote: the worker becomes a Raft member and answers API calls.
	mustRun(t, "--data-dir", m1.dir, "node", "promote", w.nodeID)
	start := time.Now()
	eventually(t, waitTimeout, "w1 is a reachable manager", func() error {
		n, err := nodeByName(t, m1, w.nodeID)
		if err != nil {
			return err
		}
		if n.GetRole() != shoalv1.NodeRole_NODE_ROLE_MANAGER {
			return fmt.Errorf("w1 role %v", n.GetRole())
		}
		if n.GetManagerStatus().GetReachability() != shoalv1.Reachability_REACHABILITY_REACHABLE {
			return fmt.Errorf("w1 manager status %v", n.GetManagerStatus())
		}
		nodes, err := w.nodes(t, true)
		if err != nil {
			return err
		}
		if len(nodes) != 2 {
			return fmt.Errorf("w1's own store lists %d nodes", len(nodes))
		}
		return nil
	})
	t.Logf("promotion took %s", time.Since(start).Round(time.Millisecond))
	agreeOnLeader(t, []*manager{m1, w}, 2)
	if r := w.cli(t, "node", "update", m1.nodeID, "--label-add", "by=w1"); r.Code != 0 {
		t.Fatalf("write through the promoted manager: %s", r)
	}
	if v, err := labelOf(t, m1, true, m1.nodeID, "by"); err != nil || v != "w1" {
		t.Fatalf("write through the promoted manager not on m1: %q %v", v, err)
	}

	// It stays a manager across a crash and restart.
	w.kill()
	w.restart("run", "--data-dir", w.dir, "--raft-tick", "50ms")
	eventually(t, waitTimeout, "restarted w1 answers as a manager", func() error {
		_, err := labelOf(t, w, true, m1.nodeID, "by")
		return err
	})
	agreeOnLeader(t, []*manager{m1, w}, 2)

	// Demote: it leaves the Raft group and stops answering API calls.
	if r := m1.cli(t, "node", "demote", w.nodeID); r.Code != 0 {
		t.Fatalf("%s\n%s", r, m1.cli(t, "node", "ls"))
	}
	start = time.Now()
	eventually(t, waitTimeout, "w1 is a worker again", func() error {
		n, err := nodeByName(t, m1, w.nodeID)
		if err != nil {
			return err
		}
		if n.GetRole() != shoalv1.NodeRole_NODE_ROLE_WORKER || n.GetManagerStatus() != nil {
			return fmt.Errorf("w1: role %v, manager status %v", n.GetRole(), n.GetManagerStatus())
		}
		if r := w.cli(t, "--local", "node", "ls"); r.Code == 0 {
			return fmt.Errorf("w1 still answers API calls on its admin socket")
		}
		return nil
	})
	t.Logf("demotion took %s", time.Since(start).Round(time.Millisecond))
	// The single manager left still takes writes.
	if r := m1.cli(t, "node", "update", m1.nodeID, "--label-add", "after-demote=1"); r.Code != 0 {
		t.Fatalf("write after demotion: %s", r)
	}

	// Stopped, it is seen down; then it can be removed without --force.
	if err := w.stop(); err != nil {
		t.Fatalf("SIGTERM w1: %v", err)
	}
	start = time.Now()
	eventually(t, waitTimeout, "stopped w1 is down", func() error {
		n, err := nodeByName(t, m1, w.nodeID)
		if err != nil {
			return err
		}
		if s := n.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_DOWN {
			return fmt.Errorf("w1 is %v", s)
		}
		return nil
	})
	t.Logf("w1 seen down %s after it stopped (heartbeat 1s)", time.Since(start).Round(time.Millisecond))
	if r := m1.cli(t, "node", "rm", w.nodeID); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	if _, err := nodeByName(t, m1, w.nodeID); err == nil {
		t.Fatalf("w1 still listed after node rm")
	}
}

// TestRestartKeepsHostname: `shoal run` restarts a node as it was set up;
// the --hostname given at init or join is kept, so the node can still be
// named by it.
func TestRestartKeepsHostname(t *testing.T) {
	c := newCluster(t, "--raft-tick", "50ms")
	m1 := c.init("m1")
	var before uint64
	eventually(t, waitTimeout, "m1 is ready", func() error {
		n, err := m1.inspect(t, false, m1.nodeID)
		if err != nil {
			return err
		}
		before = n.GetMeta().GetVersion()
		if n.GetStatus().GetState() != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("m1 is %v", n.GetStatus().GetState())
		}
		return nil
	})
	m1.kill()
	m1.restart("run", "--data-dir", m1.dir, "--raft-tick", "50ms")
	// Wait until the restarted node has reported itself (its agent's session
	// updates the node object).
	var n *shoalv1.Node
	eventually(t, waitTimeout, "restarted m1 has reported itself", func() error {
		var err error
		n, err = m1.inspect(t, false, m1.nodeID)
		if err != nil {
			return err
		}
		if v := n.GetMeta().GetVersion(); v <= before || n.GetStatus().GetState() != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("m1 is %v at version %d (was %d before the restart)", n.GetStatus().GetState(), v, before)
		}
		return nil
	})
	if h := n.GetDescription().GetHostname(); h != "m1" {
		t.Fatalf("after 'shoal run' the node's hostname is %q, want %q as given to 'shoal init --hostname' (core/node saves it in node.json but Run does not read it back)", h, "m1")
	}
	if _, err := m1.inspect(t, false, "m1"); err != nil {
		t.Fatalf("node inspect by hostname after a restart: %v", err)
	}
}
