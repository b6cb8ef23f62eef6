package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestContainerdLimits: a memory limit is enforced (the task is OOM-killed and
// reported so), and a failing health check fails the task, which is replaced and
// whose container stops.
func TestContainerdLimits(t *testing.T) {
	env := needContainerd(t)
	cc := newCtrCluster(t, env, 0, false)
	m := cc.node("m")

	t.Run("memory limit", func(t *testing.T) {
		cc := cc.with(t)
		// The shell doubles a string until the cgroup's 16 MiB run out.
		cc.mustCLI("service", "create", "--detach", "--name", "hog", "--limit-memory", "16MiB", "--restart-condition", "none",
			env.busybox(), "--", "sh", "-c", "x=a; while :; do x=$x$x; done")
		var got *shoalv1.Task
		d := eventually(t, 2*waitTimeout, "the hog is OOM-killed", func() error {
			ts, err := cc.tasks("hog")
			if err != nil {
				return err
			}
			if len(ts) != 1 {
				return fmt.Errorf("%d tasks, want 1 (restart condition none)", len(ts))
			}
			got = ts[0]
			if s := got.GetStatus().GetState(); s != shoalv1.TaskState_TASK_STATE_FAILED {
				return fmt.Errorf("task is %v (%s)", s, got.GetStatus().GetErr())
			}
			return nil
		})
		st := got.GetStatus()
		t.Logf("hog: %v after %s: oomKilled=%v exit=%d err=%q msg=%q", st.GetState(), d.Round(time.Millisecond), st.GetOomKilled(), st.GetExitCode(), st.GetErr(), st.GetMessage())
		if !st.GetOomKilled() {
			t.Fatalf("status does not say OOM killed: %v", st)
		}
		if e := strings.ToLower(st.GetErr() + " " + st.GetMessage()); !strings.Contains(e, "out-of-memory") && !strings.Contains(e, "out of memory") && !strings.Contains(e, "oom") {
			t.Fatalf("status does not name the OOM kill: %v", st)
		}
		ps := cc.mustCLI("service", "ps", "hog", "--no-trunc")
		if !strings.Contains(strings.ToLower(ps), "out-of-memory") {
			t.Fatalf("service ps does not show why:\n%s", ps)
		}
		cc.mustCLI("service", "rm", "hog")
		eventually(t, waitTimeout, "nothing of hog left", func() error { return cc.leftovers(m) })
	})

	t.Run("failing health check", func(t *testing.T) {
		cc := cc.with(t)
		cc.mustCLI(append([]string{"service", "create", "--detach", "--name", "sick",
			"--health-cmd", "exit 1", "--health-interval", "1s", "--health-retries", "2",
			"--restart-delay", "1s", "--stop-grace-period", "1s", env.busybox(), "--"}, webCmd...)...)
		var failed, repl *shoalv1.Task
		d := eventually(t, 2*waitTimeout, "an unhealthy task is FAILED and replaced", func() error {
			ts, err := cc.tasks("sick")
			if err != nil {
				return err
			}
			// The replacement fails its checks too, in turn: it counts once it has run
			// (RUNNING now, or FAILED for being unhealthy).
			unhealthy := func(task *shoalv1.Task) bool {
				return task.GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_FAILED &&
					strings.Contains(strings.ToLower(task.GetStatus().GetErr()), "unhealthy")
			}
			failed, repl = nil, nil
			for _, task := range ts {
				if unhealthy(task) && (failed == nil || task.GetMeta().GetCreatedAt().AsTime().Before(failed.GetMeta().GetCreatedAt().AsTime())) {
					failed = task
				}
			}
			if failed == nil {
				return errors.New("no task failed its health check yet")
			}
			for _, task := range ts {
				if task.GetId() != failed.GetId() && task.GetSlot() == failed.GetSlot() &&
					task.GetMeta().GetCreatedAt().AsTime().After(failed.GetMeta().GetCreatedAt().AsTime()) &&
					(isRunning(task) || unhealthy(task)) {
					repl = task
				}
			}
			if repl == nil {
				return fmt.Errorf("task %s failed its health check; no replacement has run yet", failed.GetId())
			}
			return nil
		})
		st := failed.GetStatus()
		t.Logf("sick: task %s %v after %s: err=%q msg=%q; replacement %s", failed.GetId(), st.GetState(), d.Round(time.Millisecond), st.GetErr(), st.GetMessage(), repl.GetId())
		if e := strings.ToLower(st.GetErr()); !strings.Contains(e, "health") && !strings.Contains(e, "unhealthy") {
			t.Fatalf("the failed task's error does not say it was unhealthy: %v", st)
		}
		ps := cc.mustCLI("service", "ps", "sick", "--no-trunc")
		if !strings.Contains(strings.ToLower(ps), "unhealthy") {
			t.Fatalf("service ps does not show why:\n%s", ps)
		}
		t.Logf("service ps sick:\n%s", ps)
		// The unhealthy task's container does not keep running next to its replacement.
		d = eventually(t, waitTimeout, "the unhealthy task's container stops", func() error {
			if ct, ok := cc.ctrTasks(m)[failed.GetId()]; ok && ct.status == "RUNNING" {
				return fmt.Errorf("container of FAILED task %s still %s (pid %d)", failed.GetId(), ct.status, ct.pid)
			}
			return nil
		})
		t.Logf("the unhealthy task's container stopped %s after its replacement was seen", d.Round(time.Millisecond))
		cc.mustCLI("service", "rm", "sick")
		d = eventually(t, waitTimeout, "nothing of sick left", func() error { return cc.leftovers(m) })
		t.Logf("sick: nothing left %s after service rm", d.Round(time.Millisecond))
	})
}
