package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestRestartPolicyAndErrors: a task that exits 3 is restarted on failure
// at most --restart-max-attempts times, and `service ps` says why each one
// failed; a task no node can take stays PENDING with a reason a person can
// act on, and runs once a node qualifies.
func TestRestartPolicyAndErrors(t *testing.T) {
	testStart := time.Now()
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())

	// Restart on failure: 1 task + 2 restarts, then nothing more.
	start := time.Now()
	r := m1.cli(t, "service", "create", "--name", "crash", "--detach", "--restart-condition", "on-failure",
		"--restart-delay", "1s", "--restart-max-attempts", "2", "--process", "--", "sh", "-c", "exit 3")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	ts, d := plWaitTasks(t, m1, "crash", "3 failed tasks for slot 1", waitTimeout, func(ts []*shoalv1.Task) error {
		failed := 0
		for _, tk := range ts {
			if tk.GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_FAILED {
				failed++
			}
		}
		if failed < 3 {
			return fmt.Errorf("%d of %d tasks failed", failed, len(ts))
		}
		return nil
	})
	t.Logf("3 failed tasks after %s", d.Round(time.Millisecond))
	// Give the orchestrator time for a 4th attempt (several restart delays):
	// there must be none.
	time.Sleep(5 * time.Second)
	ts, err := serviceTasks(t, m1, "crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 {
		t.Errorf("slot 1 has %d tasks, want 3 (1 + --restart-max-attempts 2)", len(ts))
	}
	for _, tk := range ts {
		st := tk.GetStatus()
		t.Logf("task %s slot %d: desired %v, state %v, exit %d, err %q", tk.GetId(), tk.GetSlot(), tk.GetDesiredState(), st.GetState(), st.GetExitCode(), st.GetErr())
		if tk.GetSlot() != 1 {
			t.Errorf("task %s has slot %d, want 1", tk.GetId(), tk.GetSlot())
		}
		if st.GetState() != shoalv1.TaskState_TASK_STATE_FAILED || !strings.Contains(st.GetErr(), "non-zero exit (3)") {
			t.Errorf("task %s is %v with error %q, want FAILED with \"non-zero exit (3)\"", tk.GetId(), st.GetState(), st.GetErr())
		}
		if wantRunning(tk) {
			t.Errorf("task %s is still meant to run after the restart attempts are used up", tk.GetId())
		}
	}
	table := mustRun(t, "--data-dir", m1.dir, "service", "ps", "crash")
	if n := strings.Count(table, "non-zero exit (3)"); n != 3 {
		t.Errorf("service ps shows \"non-zero exit (3)\" %d times, want 3:\n%s", n, table)
	}
	t.Logf("restart policy checked %s after create:\n%s", time.Since(start).Round(time.Millisecond), table)

	// An impossible constraint: tasks stay PENDING and say why.
	mars := plMark(t, "mars")
	marks = append(marks, mars)
	r = m1.cli(t, "service", "create", "--name", "mars", "--replicas", "2", "--detach", "--constraint", "node.labels.zone==mars",
		"--process", "--", "sh", "-c", plLoop, mars)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	reason := regexp.MustCompile(`no suitable node: 1 node fails constraints`)
	ts, d = plWaitTasks(t, m1, "mars", "mars tasks PENDING with a reason", waitTimeout, func(ts []*shoalv1.Task) error {
		if len(ts) != 2 {
			return fmt.Errorf("%d tasks", len(ts))
		}
		for _, tk := range ts {
			if s := tk.GetStatus().GetState(); s != shoalv1.TaskState_TASK_STATE_PENDING {
				return fmt.Errorf("task %s is %v", tk.GetId(), s)
			}
			if !reason.MatchString(tk.GetStatus().GetErr()) {
				return fmt.Errorf("task %s: reason %q does not match %s", tk.GetId(), tk.GetStatus().GetErr(), reason)
			}
		}
		return nil
	})
	t.Logf("PENDING with reason %q after %s", ts[0].GetStatus().GetErr(), d.Round(time.Millisecond))
	// Still pending a while later (the scheduler keeps retrying, nothing runs).
	time.Sleep(2 * time.Second)
	table = mustRun(t, "--data-dir", m1.dir, "service", "ps", "mars")
	if strings.Count(table, "Pending") != 2 || strings.Count(table, "no suitable node") != 2 {
		t.Errorf("service ps of mars does not show 2 pending tasks with the reason:\n%s", table)
	}
	if n := len(plPgrep(t, mars)); n != 0 {
		t.Errorf("%d processes of mars run although no node qualifies", n)
	}
	t.Logf("service ps mars:\n%s", table)
	// Label the node: the tasks run.
	mustRun(t, "--data-dir", m1.dir, "node", "update", "--label-add", "zone=mars", m1.nodeID)
	_, d = plWaitTasks(t, m1, "mars", "mars runs once the node qualifies", waitTimeout, func(ts []*shoalv1.Task) error {
		return plCheckReplicas(ts, 2)
	})
	plWaitProcs(t, mars, 2, m1, "mars")
	t.Logf("mars running %s after the label was added", d.Round(time.Millisecond))
	t.Logf("TestRestartPolicyAndErrors took %s", time.Since(testStart).Round(time.Millisecond))
}

// TestAgentRestartKeepsTasks: when only a worker's daemon dies (SIGKILL) and
// is started again with `shoal run`, its process tasks were never stopped:
// the restarted agent adopts them, so they keep their PIDs, stay RUNNING
// and are not replaced by new tasks.
func TestAgentRestartKeepsTasks(t *testing.T) {
	testStart := time.Now()
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	// The default 5 s heartbeat (DOWN one period after the killed daemon's
	// session closed): the daemon restart below takes well under that, so the node must not be seen DOWN and its tasks
	// must not be rescheduled. With a 1 s heartbeat a slow restart on a busy
	// machine could legitimately mark it DOWN.
	m1 := c.init("m1")
	w1 := plJoinWorker(t, c, "w1", m1)

	keep := plCreateLoopService(t, m1, &marks, "keep", "--replicas", "3", "--constraint", "node.role==worker")
	before, err := serviceTasks(t, m1, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if err := plCheckReplicas(before, 3); err != nil {
		t.Fatal(err)
	}
	plWaitProcs(t, keep, 3, m1, "keep")
	pidsBefore := plPgrep(t, keep)
	taskPid := map[string]uint32{}
	for _, tk := range before {
		if tk.GetNodeId() != w1.nodeID {
			t.Fatalf("task %s on node %s, want the worker %s", tk.GetId(), tk.GetNodeId(), w1.nodeID)
		}
		taskPid[tk.GetId()] = tk.GetStatus().GetPid()
	}
	t.Logf("before: task PIDs %v, processes %v", taskPid, pidsBefore)
	for id, pid := range taskPid {
		found := false
		for _, p := range pidsBefore {
			found = found || uint32(p) == pid
		}
		if !found {
			t.Errorf("task %s reports pid %d, which is not one of the task processes %v", id, pid, pidsBefore)
		}
	}
	n, err := nodeByName(t, m1, "w1")
	if err != nil {
		t.Fatal(err)
	}
	versionBefore := n.GetMeta().GetVersion()

	// SIGKILL to the daemon's process group only: the shims live in their
	// own sessions, so the tasks are untouched.
	w1.kill()
	killed := time.Now()
	if got := plPgrep(t, keep); fmt.Sprint(got) != fmt.Sprint(pidsBefore) {
		t.Fatalf("task processes changed when the daemon was killed: %v, were %v", got, pidsBefore)
	}
	w1.restart("run", "--data-dir", w1.dir)
	d := eventually(t, waitTimeout, "the restarted worker has reported itself READY", func() error {
		if !w1.running() {
			return fmt.Errorf("w1 exited:\n%s", tail(w1.logPath, 20))
		}
		n, err := nodeByName(t, m1, "w1")
		if err != nil {
			return err
		}
		if v := n.GetMeta().GetVersion(); v <= versionBefore || n.GetStatus().GetState() != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("w1 is %v at version %d (%d before the kill)", n.GetStatus().GetState(), v, versionBefore)
		}
		return nil
	})
	t.Logf("restarted worker READY %s after it was started again, %s after the kill", d.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	// Let the agent reconcile and report for a few heartbeats' worth.
	time.Sleep(3 * time.Second)
	after, err := serviceTasks(t, m1, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d tasks after the agent restart, %d before: tasks were replaced", len(after), len(before))
	}
	for _, tk := range after {
		pid, ok := taskPid[tk.GetId()]
		switch {
		case !ok:
			t.Errorf("new task %s (slot %d, %v) after the agent restart", tk.GetId(), tk.GetSlot(), tk.GetStatus().GetState())
		case !wantRunning(tk) || !isRunning(tk):
			t.Errorf("task %s is desired %v, state %v (%s) after the agent restart", tk.GetId(), tk.GetDesiredState(), tk.GetStatus().GetState(), tk.GetStatus().GetErr())
		case tk.GetStatus().GetPid() != pid:
			t.Errorf("task %s reports pid %d, was %d", tk.GetId(), tk.GetStatus().GetPid(), pid)
		}
	}
	if got := plPgrep(t, keep); fmt.Sprint(got) != fmt.Sprint(pidsBefore) {
		t.Errorf("task processes after the agent restart: %v, before: %v", got, pidsBefore)
	}
	if t.Failed() {
		t.Logf("w1 log tail:\n%s", tail(w1.logPath, 30))
	}
	t.Logf("TestAgentRestartKeepsTasks took %s", time.Since(testStart).Round(time.Millisecond))
}
