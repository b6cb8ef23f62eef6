package e2e

// Helpers for the service pipeline tests (pipeline_*_test.go): workers,
// task listings, the host processes that process-backend tasks run as, and
// "the machine died" (the daemon and every task process it started).
//
// Process tasks outlive their node's daemon on purpose: the process backend
// starts each task under a shim in its own session (Setsid), so killing the
// daemon's process group (what proc.kill does) leaves the shim and the task
// running, exactly as a crashed agent would. The tests therefore reap task
// processes themselves: plKillMachine for a node that should look dead, and
// plReap at cleanup for everything a test started.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// plMark returns a string unique to this test run, put as $0 of every task
// command (sh -c SCRIPT MARK) so `pgrep -f MARK` finds exactly the test's
// task processes.
func plMark(t testing.TB, what string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random mark: %v", err)
	}
	return "e2epipe-" + what + "-" + hex.EncodeToString(b)
}

// plNewCluster is newCluster plus a cleanup, run after every daemon of the
// cluster was killed (cleanups run last-registered first) and before its temp
// dir is removed, that SIGKILLs every shim and task process the cluster's
// nodes started, found by the shims' environment (their task dir is under
// the cluster's base dir) and by the marks in the task commands.
//
// Debugging: SHOAL_E2E_LOG_LEVEL=debug starts every daemon with that log
// level; SHOAL_E2E_KEEP=DIR copies the daemons' logs of a failed test there.
func plNewCluster(t *testing.T, marks *[]string, extraFlags ...string) *cluster {
	t.Helper()
	c := newCluster(t, append(extraFlags, plLogFlags()...)...)
	t.Cleanup(func() {
		plReap(t, c.base, *marks)
		if keep := os.Getenv("SHOAL_E2E_KEEP"); keep != "" && t.Failed() {
			dst := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
			logs, _ := filepath.Glob(filepath.Join(c.base, "*.log"))
			if err := os.MkdirAll(dst, 0o755); err == nil {
				for _, l := range logs {
					if b, err := os.ReadFile(l); err == nil {
						_ = os.WriteFile(filepath.Join(dst, filepath.Base(l)), b, 0o644)
					}
				}
				t.Logf("daemon logs kept in %s", dst)
			}
		}
	})
	return c
}

// plThreeManagers is plNewCluster with three managers (m1 the first, Raft
// ticking every 50 ms, agents beating every plHeartbeat) agreeing on a leader.
func plThreeManagers(t *testing.T, marks *[]string) (c *cluster, m1, m2, m3 *manager) {
	t.Helper()
	c = plNewCluster(t, marks, "--raft-tick", "50ms")
	m1 = c.init("m1", "--heartbeat-period", plHeartbeat.String())
	m2 = c.joinManager("m2", m1)
	m3 = c.joinManager("m3", m1)
	agreeOnLeader(t, c.managers, 3)
	return c, m1, m2, m3
}

func plLogFlags() []string {
	if l := os.Getenv("SHOAL_E2E_LOG_LEVEL"); l != "" {
		return []string{"--log-level", l}
	}
	return nil
}

// plJoinWorker joins worker name through via with the pipeline tests' log
// flags (see joinWorker).
func plJoinWorker(t *testing.T, c *cluster, name string, via *manager, flags ...string) *manager {
	t.Helper()
	return c.joinWorker(t, name, "", via, append(plLogFlags(), flags...)...)
}

// plServices lists services (`service ls --format json`) through m.
func plServices(t testing.TB, m *manager) ([]*shoalv1.Service, error) {
	t.Helper()
	r := m.cli(t, "service", "ls", "--format", "json")
	if r.Code != 0 {
		return nil, fmt.Errorf("service ls via %s: %s", m.name, strings.TrimSpace(r.Stderr))
	}
	return parseList[shoalv1.Service](r.Stdout, "service")
}

// plSlotsTwice returns the slots that have more than one task meant to run.
func plSlotsTwice(ts []*shoalv1.Task) []string {
	per := map[uint64][]string{}
	for _, tk := range ts {
		if wantRunning(tk) && tk.GetSlot() > 0 {
			per[tk.GetSlot()] = append(per[tk.GetSlot()], tk.GetId()+"@"+tk.GetNodeId())
		}
	}
	var out []string
	for s, ids := range per {
		if len(ids) > 1 {
			out = append(out, fmt.Sprintf("slot %d: %v", s, ids))
		}
	}
	sort.Strings(out)
	return out
}

// plCheckReplicas says why ts is not exactly slots 1..n each with one task
// meant to run that runs (nil when it is), ignoring nothing.
func plCheckReplicas(ts []*shoalv1.Task, n int) error {
	if two := plSlotsTwice(ts); len(two) > 0 {
		return fmt.Errorf("slots with two tasks meant to run: %v", two)
	}
	seen := map[uint64]*shoalv1.Task{}
	for _, tk := range ts {
		if wantRunning(tk) {
			seen[tk.GetSlot()] = tk
		}
	}
	if len(seen) != n {
		return fmt.Errorf("%d slots have a task meant to run, want %d", len(seen), n)
	}
	for s := uint64(1); s <= uint64(n); s++ {
		tk, ok := seen[s]
		if !ok {
			return fmt.Errorf("slot %d has no task meant to run (slots %v)", s, plSlotList(seen))
		}
		if !isRunning(tk) {
			return fmt.Errorf("slot %d: task %s is %v (%s)", s, tk.GetId(), tk.GetStatus().GetState(), tk.GetStatus().GetErr())
		}
	}
	return nil
}

func plSlotList(m map[uint64]*shoalv1.Task) []uint64 {
	var out []uint64
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// plPerNode counts the tasks meant to run per node ID.
func plPerNode(ts []*shoalv1.Task) map[string]int {
	out := map[string]int{}
	for _, tk := range ts {
		if wantRunning(tk) {
			out[tk.GetNodeId()]++
		}
	}
	return out
}

// plPgrep returns the PIDs `pgrep -f pattern` finds.
func plPgrep(t testing.TB, pattern string) []int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "--", pattern).Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("pgrep -f %s: %v", pattern, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		p, err := strconv.Atoi(f)
		if err == nil {
			pids = append(pids, p)
		}
	}
	sort.Ints(pids)
	return pids
}

// plWaitProcs waits until exactly want processes match pattern; m and svc,
// if set, name the service whose tasks the processes are compared with
// when they never match.
func plWaitProcs(t testing.TB, pattern string, want int, m *manager, svc string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		n := len(plPgrep(t, pattern))
		if n == want {
			return time.Since(start)
		}
		if time.Since(start) > waitTimeout {
			why := ""
			if m != nil {
				ts, err := serviceTasks(t, m, svc)
				if err != nil {
					why = err.Error()
				} else {
					why = plProcsVsTasks(t, pattern, ts)
				}
			}
			t.Fatalf("%d processes match %s after %s, want %d\n%s", n, pattern, waitTimeout, want, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// plProcs returns the PIDs of live processes for which match(cmdline,
// environ) holds; both are NUL-separated as in /proc.
func plProcs(match func(cmdline, environ []byte) bool) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cl) == 0 { // gone, or a zombie
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if match(cl, env) {
			out = append(out, pid)
		}
	}
	return out
}

func hasEnv(environ []byte, kv string) bool {
	for _, e := range bytes.Split(environ, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}

func hasEnvPrefix(environ []byte, prefix string) bool {
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if bytes.HasPrefix(kv, []byte(prefix)) {
			return true
		}
	}
	return false
}

// plKillAll SIGKILLs every process match selects, and each one's process
// group (a task's command leads its own group; sleep children are in it),
// until none is left or 10 s pass.
func plKillAll(t testing.TB, what string, match func(cmdline, environ []byte) bool) int {
	t.Helper()
	killed := map[int]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := plProcs(match)
		if len(pids) == 0 {
			return len(killed)
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: processes %v still alive after 10 s of SIGKILL", what, pids)
			return len(killed)
		}
		for _, p := range pids {
			killed[p] = true
			if pg, err := syscall.Getpgid(p); err == nil && pg == p {
				_ = syscall.Kill(-p, syscall.SIGKILL)
			}
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// plKillMachine makes node n look like a machine that lost power: SIGKILL
// to its daemon's process group, then to the shims and task processes it
// started (shims by their task dir under n.dir, task processes by the
// SHOAL_NODE_ID the process backend sets in their environment). Killing the
// daemon alone would leave its tasks running: they would keep running next
// to their replacements and break process counts.
func plKillMachine(t testing.TB, n *manager) {
	t.Helper()
	n.kill()
	shim := "SHOAL_PROCESS_SHIM=" + n.dir + string(os.PathSeparator)
	node := "SHOAL_NODE_ID=" + n.nodeID
	k := plKillAll(t, "machine "+n.name, func(_, env []byte) bool {
		return hasEnvPrefix(env, shim) || (n.nodeID != "" && hasEnv(env, node))
	})
	t.Logf("machine %s killed: daemon and %d shim/task processes", n.name, k)
}

// plReap kills every shim under base and every process whose command line
// holds one of marks.
func plReap(t testing.TB, base string, marks []string) {
	shim := "SHOAL_PROCESS_SHIM=" + base + string(os.PathSeparator)
	k := plKillAll(t, "reap", func(cl, env []byte) bool {
		if hasEnvPrefix(env, shim) {
			return true
		}
		for _, m := range marks {
			if bytes.Contains(cl, []byte(m)) {
				return true
			}
		}
		return false
	})
	if k > 0 {
		t.Logf("cleanup: killed %d leftover shim/task processes", k)
	}
}

// plWaitTasks polls svc's tasks through m until check passes, and returns
// the last listing and the time it took.
func plWaitTasks(t testing.TB, m *manager, svc, what string, d time.Duration, check func([]*shoalv1.Task) error) ([]*shoalv1.Task, time.Duration) {
	t.Helper()
	var ts []*shoalv1.Task
	took := eventually(t, d, what, func() error {
		var err error
		ts, err = serviceTasks(t, m, svc)
		if err != nil {
			return err
		}
		return check(ts)
	})
	return ts, took
}

// plProcEnv reads the SHOAL_* variables of a process.
func plProcEnv(pid int) map[string]string {
	env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, kv := range bytes.Split(env, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if ok && strings.HasPrefix(k, "SHOAL_") {
			out[k] = v
		}
	}
	return out
}

// plProcsVsTasks explains which processes matching mark belong to no task
// meant to run, and which such tasks have no process.
func plProcsVsTasks(t testing.TB, mark string, ts []*shoalv1.Task) string {
	t.Helper()
	byID := map[string]*shoalv1.Task{}
	for _, tk := range ts {
		byID[tk.GetId()] = tk
	}
	var b strings.Builder
	seen := map[string]int{}
	for _, p := range plPgrep(t, mark) {
		env := plProcEnv(p)
		id := env["SHOAL_TASK_ID"]
		seen[id]++
		tk := byID[id]
		switch {
		case tk == nil:
			fmt.Fprintf(&b, "pid %d: task %s (slot %s, node %s) is not listed\n", p, id, env["SHOAL_TASK_SLOT"], env["SHOAL_NODE_ID"])
		case !wantRunning(tk):
			fmt.Fprintf(&b, "pid %d: task %s (slot %d, node %s) is desired %v, state %v (%s)\n", p, id, tk.GetSlot(), tk.GetNodeId(), tk.GetDesiredState(), tk.GetStatus().GetState(), tk.GetStatus().GetErr())
		}
	}
	for id, n := range seen {
		if n > 1 {
			fmt.Fprintf(&b, "task %s has %d processes\n", id, n)
		}
	}
	for _, tk := range ts {
		if wantRunning(tk) && seen[tk.GetId()] == 0 {
			fmt.Fprintf(&b, "task %s (slot %d, node %s, %v) has no process\n", tk.GetId(), tk.GetSlot(), tk.GetNodeId(), tk.GetStatus().GetState())
		}
	}
	return b.String()
}

// plCreateLoopService creates service name through m running plLoop under
// a new mark (added to marks, returned) with the given extra create flags,
// and fails unless the CLI reports convergence.
func plCreateLoopService(t testing.TB, m *manager, marks *[]string, name string, flags ...string) string {
	t.Helper()
	mark := plMark(t, name)
	*marks = append(*marks, mark)
	args := append([]string{"service", "create", "--name", name}, flags...)
	r := m.cli(t, append(args, "--process", "--", "sh", "-c", plLoop, mark)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "verify: Service converged") {
		t.Fatalf("service create %s did not report convergence:\n%s", name, r)
	}
	return mark
}
