package e2e

import (
	"strings"
	"testing"
	"time"
)

// A worker removed with `shoal node rm --force` while it runs leaves the
// cluster as a swarm node does: it removes its tasks, exits saying why,
// and `shoal run` refuses its data dir.
func TestRemovedWorkerLeaves(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", "1s")
	w1 := plJoinWorker(t, c, "w1", m1)

	mark := plCreateLoopService(t, m1, &marks, "gone", "--replicas", "2", "--constraint", "node.role==worker")
	plWaitProcs(t, mark, 2, m1, "gone")

	// A ready node is not removed without --force.
	if r := m1.cli(t, "node", "rm", w1.nodeID); r.Code == 0 || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("rm of a ready node without --force: %s", r)
	}
	if !w1.running() || len(plPgrep(t, mark)) != 2 {
		t.Fatal("a refused rm changed the worker")
	}

	if r := m1.cli(t, "node", "rm", "--force", w1.nodeID); r.Code != 0 {
		t.Fatalf("node rm --force: %s", r)
	}
	select {
	case <-w1.exited():
	case <-time.After(waitTimeout):
		t.Fatalf("the removed worker kept running\n%s", tail(w1.logPath, 20))
	}
	if err := w1.stop(); err == nil || !strings.Contains(w1.log(), "removed from the cluster") {
		t.Fatalf("worker exit = %v; log:\n%s", err, tail(w1.logPath, 20))
	}
	if pids := plPgrep(t, mark); len(pids) != 0 {
		t.Fatalf("task processes left after the node left: %v", pids)
	}
	r := runTimeout(t, cliTimeout, "run", "--data-dir", w1.dir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "removed from the cluster") || !strings.Contains(r.Stderr, "shoal join") {
		t.Fatalf("shoal run on the removed node's data dir: %s", r)
	}
}
