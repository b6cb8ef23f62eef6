package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ctrLogLine is a `service logs --timestamps` line: TIME PREFIX    | DATA.
var ctrLogLine = regexp.MustCompile(`^(\S+) (\S+)\s+\| (.*)$`)

type ctrLog struct {
	at   time.Time
	data string
}

func parseCtrLogs(t *testing.T, out string) []ctrLog {
	t.Helper()
	var lines []ctrLog
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		m := ctrLogLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("log line %q is not TIME PREFIX | DATA", l)
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, ctrLog{at, m[3]})
	}
	return lines
}

// TestContainerdLogs: `service logs --timestamps` of a containerd task shows each
// line on the stream the task wrote it to, stamped when it was written; what the
// task writes while its node's agent is down (killed with SIGKILL) is recorded too.
func TestContainerdLogs(t *testing.T) {
	env := needContainerd(t)
	cc := newCtrCluster(t, env, 1, true)
	w1 := cc.node("w1")
	created := time.Now()
	cc.mustCLI("service", "create", "--detach", "--name", "talk", "--stop-grace-period", "1s", env.busybox(), "--",
		"sh", "-c", `echo hello-out; echo hello-err >&2; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.5; done`)
	cc.waitRunning("talk", 1)

	var r result
	eventually(t, waitTimeout, "both streams are in service logs", func() error {
		r = cc.cli("service", "logs", "--timestamps", "talk")
		if r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		if !strings.Contains(r.Stdout, "| hello-out") || !strings.Contains(r.Stderr, "| hello-err") || !strings.Contains(r.Stdout, "| tick-3") {
			return fmt.Errorf("not yet: %s", r)
		}
		return nil
	})
	if strings.Contains(r.Stdout, "hello-err") || strings.Contains(r.Stderr, "hello-out") {
		t.Fatalf("a line on the wrong stream: %s", r)
	}
	read := time.Now()
	for _, l := range append(parseCtrLogs(t, r.Stdout), parseCtrLogs(t, r.Stderr)...) {
		if l.at.Before(created) || l.at.After(read) {
			t.Fatalf("%q stamped %v, outside %v .. %v", l.data, l.at, created, read)
		}
	}

	// The agent dies; the task keeps ticking; the ticks are recorded meanwhile.
	// It is back well within a heartbeat period (5 s) of its session closing,
	// after which the node would be DOWN and the task replaced.
	killOnly(w1.p)
	down := time.Now()
	time.Sleep(2 * time.Second)
	up := time.Now()
	w1.p.restart(append([]string{"run", "--data-dir", w1.dir}, env.backendFlags()...)...)
	// Through the restarted agent (the manager may still think the old one is up:
	// retry until a tick written after the restart shows).
	eventually(t, waitTimeout, "the restarted agent serves logs with new ticks", func() error {
		r = cc.cli("service", "logs", "--timestamps", "talk")
		if r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		lines := parseCtrLogs(t, r.Stdout)
		if len(lines) == 0 || !lines[len(lines)-1].at.After(up.Add(time.Second)) {
			return fmt.Errorf("no line after the restart yet")
		}
		return nil
	})
	next, whileDown := 1, 0
	for _, l := range parseCtrLogs(t, r.Stdout) {
		if !strings.HasPrefix(l.data, "tick-") {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(l.data, "tick-"))
		if n != next {
			t.Fatalf("tick %d follows tick %d:\n%s", n, next-1, r.Stdout)
		}
		next++
		if l.at.After(down) && l.at.Before(up) {
			whileDown++
		}
	}
	if whileDown < 2 {
		t.Fatalf("%d ticks stamped while the agent was down (%v .. %v):\n%s", whileDown, down, up, r.Stdout)
	}
	t.Logf("%d ticks in all, %d written while the agent was down", next-1, whileDown)
	cc.mustCLI("service", "rm", "talk")
	eventually(t, 2*waitTimeout, "nothing of talk is left in containerd", func() error { return cc.leftovers(w1) })
}
