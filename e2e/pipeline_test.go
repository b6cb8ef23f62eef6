package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// plLoop is a task that runs until stopped; $0 (the mark) names it in ps.
const plLoop = "while :; do sleep 5; done"

// plHeartbeat is the agents' heartbeat period the pipeline tests set at
// init; a node is DOWN after 3 missed heartbeats.
const plHeartbeat = time.Second

// plEnvSlots reads SHOAL_TASK_SLOT from the environment of each pid.
func plEnvSlots(t testing.TB, pids []int) []string {
	t.Helper()
	var out []string
	for _, p := range pids {
		env, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(p), "environ"))
		if err != nil {
			continue // exited meanwhile
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("SHOAL_TASK_SLOT=")); ok {
				out = append(out, string(v))
			}
		}
	}
	sort.Strings(out)
	return out
}

// plCheckGlobal says why ts is not exactly one running task per node in
// nodes (and none meant to run elsewhere).
func plCheckGlobal(ts []*shoalv1.Task, nodes []*manager) error {
	want := map[string]string{}
	for _, n := range nodes {
		want[n.nodeID] = n.name
	}
	per := map[string][]*shoalv1.Task{}
	for _, tk := range ts {
		if !wantRunning(tk) {
			continue
		}
		if tk.GetSlot() != 0 {
			return fmt.Errorf("global task %s has slot %d", tk.GetId(), tk.GetSlot())
		}
		if _, ok := want[tk.GetNodeId()]; !ok {
			return fmt.Errorf("task %s meant to run on node %q, which is not one of %v", tk.GetId(), tk.GetNodeId(), want)
		}
		per[tk.GetNodeId()] = append(per[tk.GetNodeId()], tk)
	}
	for id, name := range want {
		got := per[id]
		if len(got) != 1 {
			return fmt.Errorf("node %s has %d tasks meant to run, want 1", name, len(got))
		}
		if !isRunning(got[0]) {
			return fmt.Errorf("node %s: task %s is %v (%s)", name, got[0].GetId(), got[0].GetStatus().GetState(), got[0].GetStatus().GetErr())
		}
	}
	return nil
}

// plWaitReady waits (up to waitTimeout from since, and at least 6
// heartbeats) until every node in ns is READY in m's view; it reports the nodes that are not with t.Errorf and
// lets the test go on.
func plWaitReady(t *testing.T, m *manager, ns []*manager, since time.Time) {
	t.Helper()
	// Right after the kill the new leader still shows the old states; a node
	// whose agent does not come back is marked DOWN after the reconnect
	// grace (3 heartbeats). Look only after twice that.
	if wait := 6*plHeartbeat - time.Since(since); wait > 0 {
		time.Sleep(wait)
	}
	var last string
	for time.Since(since) < waitTimeout {
		nodes, err := m.nodes(t, false)
		if err != nil {
			last = err.Error()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		state := map[string]shoalv1.NodeState{}
		for _, n := range nodes {
			state[n.GetId()] = n.GetStatus().GetState()
		}
		var bad []string
		for _, n := range ns {
			if s := state[n.nodeID]; s != shoalv1.NodeState_NODE_STATE_READY {
				bad = append(bad, fmt.Sprintf("%s is %v", n.name, s))
			}
		}
		if len(bad) == 0 {
			t.Logf("nodes %s READY %s after the leader died", plNamesOf(ns), time.Since(since).Round(time.Millisecond))
			return
		}
		last = strings.Join(bad, ", ")
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("%s after the leader died, not every surviving node is READY: %s (an agent that joined through the dead manager must fail over to another manager)", waitTimeout, last)
}

func plNamesOf(ns []*manager) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.name)
	}
	return strings.Join(out, ",")
}

// TestServiceLifecycle drives a replicated and a global process service
// through a 3-manager + 3-worker cluster: create and wait for convergence,
// scale up and down (checking the real processes), lose a worker machine,
// drain a node, follow nodes joining and leaving, and lose the leader in the
// middle of a scale-up.
func TestServiceLifecycle(t *testing.T) {
	testStart := time.Now()
	var marks []string
	c, m1, m2, m3 := plThreeManagers(t, &marks)
	w1 := plJoinWorker(t, c, "w1", m1)
	w2 := plJoinWorker(t, c, "w2", m1)
	w3 := plJoinWorker(t, c, "w3", m1)
	all := []*manager{m1, m2, m3, w1, w2, w3}
	perName := func(ts []*shoalv1.Task) map[string]int {
		out := map[string]int{}
		for id, n := range plPerNode(ts) {
			if m := c.byID(id); m != nil {
				id = m.name
			}
			for _, w := range all {
				if w.nodeID == id {
					id = w.name
				}
			}
			out[id] = n
		}
		return out
	}
	t.Logf("cluster of %d nodes up after %s", len(all), time.Since(testStart).Round(time.Millisecond))

	// Create: the command waits for convergence and says so.
	start := time.Now()
	web := plCreateLoopService(t, m1, &marks, "web", "--replicas", "6")
	t.Logf("create --replicas 6 converged (CLI returned) after %s", time.Since(start).Round(time.Millisecond))
	ts, err := serviceTasks(t, m1, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := plCheckReplicas(ts, 6); err != nil {
		t.Fatalf("after create: %v", err)
	}
	plWaitProcs(t, web, 6, m1, "web")
	if got, want := plEnvSlots(t, plPgrep(t, web)), []string{"1", "2", "3", "4", "5", "6"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("SHOAL_TASK_SLOT of the task processes: %v, want %v", got, want)
	}
	t.Logf("tasks per node after create: %v", perName(ts))

	// Scale up through a follower, then down.
	for _, n := range []int{12, 2} {
		start = time.Now()
		r := m2.cli(t, "service", "scale", fmt.Sprintf("web=%d", n))
		if r.Code != 0 || !strings.Contains(r.Stdout, "verify: Service converged") {
			t.Fatalf("scale to %d:\n%s", n, r)
		}
		ts, _ = plWaitTasks(t, m2, "web", fmt.Sprintf("web has %d running replicas", n), waitTimeout, func(ts []*shoalv1.Task) error {
			return plCheckReplicas(ts, n)
		})
		pd := plWaitProcs(t, web, n, m1, "web")
		t.Logf("scale to %d: converged after %s, %d processes %s later; per node %v", n, time.Since(start).Round(time.Millisecond), n, pd.Round(time.Millisecond), perName(ts))
	}

	// A global service runs once on every node and follows a joining node
	// and a node that dies.
	start = time.Now()
	everywhere := plCreateLoopService(t, m3, &marks, "everywhere", "--mode", "global")
	plWaitTasks(t, m1, "everywhere", "one global task per node", waitTimeout, func(ts []*shoalv1.Task) error {
		return plCheckGlobal(ts, all)
	})
	plWaitProcs(t, everywhere, 6, m1, "everywhere")
	t.Logf("global service on %d nodes after %s", len(all), time.Since(start).Round(time.Millisecond))

	w4 := plJoinWorker(t, c, "w4", m1)
	_, d := plWaitTasks(t, m1, "everywhere", "a global task on the 7th node", waitTimeout, func(ts []*shoalv1.Task) error {
		return plCheckGlobal(ts, append(all[:len(all):len(all)], w4))
	})
	plWaitProcs(t, everywhere, 7, m1, "everywhere")
	t.Logf("global task running on the joining node %s after it was ready", d.Round(time.Millisecond))

	plKillMachine(t, w4)
	killed := time.Now()
	var w4Task string
	_, d = plWaitTasks(t, m1, "everywhere", "the dead node's global task is shut down", waitTimeout, func(ts []*shoalv1.Task) error {
		for _, tk := range ts {
			if tk.GetNodeId() == w4.nodeID {
				w4Task = tk.GetId()
				if wantRunning(tk) {
					return fmt.Errorf("task %s on dead w4 is still meant to run (%v)", tk.GetId(), tk.GetStatus().GetState())
				}
			}
		}
		if w4Task == "" {
			return fmt.Errorf("no task on w4 listed")
		}
		return plCheckGlobal(ts, all)
	})
	t.Logf("global task %s on the killed node shut down %s after the kill (DOWN after 3 x %s heartbeats)", w4Task, d.Round(time.Millisecond), plHeartbeat)
	n4, err := nodeByName(t, m1, "w4")
	if err != nil {
		t.Fatal(err)
	}
	if s := n4.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_DOWN {
		t.Errorf("w4 is %v %s after its machine died, want DOWN", s, time.Since(killed).Round(time.Millisecond))
	}
	if r := m1.cli(t, "node", "rm", "--force", w4.nodeID); r.Code != 0 {
		t.Fatalf("node rm --force of the dead node: %s", r)
	}
	if _, err := nodeByName(t, m1, w4.nodeID); err == nil {
		t.Fatalf("w4 still listed after node rm --force")
	}
	plWaitTasks(t, m1, "everywhere", "global service still on the 6 nodes left", waitTimeout, func(ts []*shoalv1.Task) error {
		return plCheckGlobal(ts, all)
	})
	plWaitProcs(t, everywhere, 6, m1, "everywhere")
	mustRun(t, "--data-dir", m1.dir, "service", "rm", "everywhere")
	d = plWaitProcs(t, everywhere, 0, m1, "everywhere")
	t.Logf("global service's processes gone %s after service rm", d.Round(time.Millisecond))

	// Lose a worker machine that runs tasks: its tasks run elsewhere.
	if r := m1.cli(t, "service", "scale", "web=6"); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	ts, _ = plWaitTasks(t, m1, "web", "web has 6 running replicas", waitTimeout, func(ts []*shoalv1.Task) error {
		return plCheckReplicas(ts, 6)
	})
	plWaitProcs(t, web, 6, m1, "web")
	per := plPerNode(ts)
	victim := w1
	for _, w := range []*manager{w1, w2, w3} {
		if per[w.nodeID] > per[victim.nodeID] {
			victim = w
		}
	}
	if per[victim.nodeID] == 0 {
		t.Fatalf("no worker runs a task of web: %v", per)
	}
	var lost []uint64
	for _, tk := range ts {
		if wantRunning(tk) && tk.GetNodeId() == victim.nodeID {
			lost = append(lost, tk.GetSlot())
		}
	}
	plKillMachine(t, victim)
	live := []*manager{}
	for _, n := range all {
		if n != victim {
			live = append(live, n)
		}
	}
	ts, d = plWaitTasks(t, m1, "web", "the lost worker's tasks run elsewhere", waitTimeout, func(ts []*shoalv1.Task) error {
		for _, tk := range ts {
			if wantRunning(tk) && tk.GetNodeId() == victim.nodeID {
				return fmt.Errorf("slot %d still meant to run on the dead %s", tk.GetSlot(), victim.name)
			}
		}
		return plCheckReplicas(ts, 6)
	})
	budget := 3*plHeartbeat + 5*time.Second
	t.Logf("slots %v of the killed worker %s RUNNING elsewhere %s after the kill (heartbeat grace + 5 s = %s); per node %v",
		lost, victim.name, d.Round(time.Millisecond), budget, perName(ts))
	if d > budget {
		t.Logf("NOTE: rescheduling took longer than heartbeat grace + 5 s (%s > %s) on this machine", d.Round(time.Millisecond), budget)
	}
	plWaitProcs(t, web, 6, m1, "web")

	// Drain a live node that runs tasks: they move, none is left there.
	per = plPerNode(ts)
	var drained *manager
	for _, n := range []*manager{w2, w3, m2, m3, m1} {
		if n != victim && per[n.nodeID] > 0 {
			drained = n
			break
		}
	}
	if drained == nil {
		t.Fatalf("no live node runs a task: %v", per)
	}
	start = time.Now()
	if r := m1.cli(t, "node", "update", "--availability", "drain", drained.nodeID); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	ts, d = plWaitTasks(t, m1, "web", "the drained node's tasks moved", waitTimeout, func(ts []*shoalv1.Task) error {
		for _, tk := range ts {
			if wantRunning(tk) && tk.GetNodeId() == drained.nodeID {
				return fmt.Errorf("slot %d still meant to run on drained %s", tk.GetSlot(), drained.name)
			}
		}
		return plCheckReplicas(ts, 6)
	})
	plWaitProcs(t, web, 6, m1, "web")
	t.Logf("drain of %s: its %d tasks moved in %s; per node %v", drained.name, per[drained.nodeID], d.Round(time.Millisecond), perName(ts))

	// Kill the leader right after a scale-up to 30 is acknowledged: the
	// service still converges, and no slot ever has two tasks meant to run.
	var mgrs []*manager
	for _, m := range c.managers {
		if m.running() {
			mgrs = append(mgrs, m)
		}
	}
	leaderID := agreeOnLeader(t, mgrs, 3)
	leader := c.byID(leaderID)
	var via *manager
	for _, m := range mgrs {
		if m != leader {
			via = m
			break
		}
	}
	start = time.Now()
	r := via.cli(t, "service", "scale", "--detach", "web=30")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	plKillMachine(t, leader)
	killed = time.Now()
	t.Logf("scale to 30 acknowledged via %s in %s; leader %s killed right after", via.name, killed.Sub(start).Round(time.Millisecond), leader.name)
	// Every surviving node's agent must find the new leader (a worker that
	// joined through the dead manager has to fail over to another one).
	var survivors []*manager
	for _, n := range all {
		if n != leader && n != victim {
			survivors = append(survivors, n)
		}
	}
	var twice []string
	polls := 0
	ts, d = plWaitTasks(t, via, "web", "web converges to 30 after the leader died", 120*time.Second, func(ts []*shoalv1.Task) error {
		polls++
		if two := plSlotsTwice(ts); len(two) > 0 {
			twice = append(twice, fmt.Sprintf("after %s: %v", time.Since(killed).Round(time.Millisecond), two))
		}
		for _, tk := range ts {
			if wantRunning(tk) && (tk.GetNodeId() == leader.nodeID || tk.GetNodeId() == victim.nodeID) {
				return fmt.Errorf("slot %d meant to run on a dead node", tk.GetSlot())
			}
			if wantRunning(tk) && tk.GetNodeId() == drained.nodeID {
				return fmt.Errorf("slot %d placed on drained %s", tk.GetSlot(), drained.name)
			}
		}
		return plCheckReplicas(ts, 30)
	})
	if len(twice) > 0 {
		t.Errorf("slots with two tasks meant to run, seen in %d of %d polls:\n%s", len(twice), polls, strings.Join(twice, "\n"))
	}
	t.Logf("web converged to 30 in the store %s after the leader was killed (%d polls); per node %v",
		d.Round(time.Millisecond), polls, perName(ts))
	plWaitReady(t, via, survivors, killed)
	pd := plWaitProcs(t, web, 30, via, "web")
	t.Logf("30 task processes %s later", pd.Round(time.Millisecond))
	t.Logf("TestServiceLifecycle took %s", time.Since(testStart).Round(time.Millisecond))
}
