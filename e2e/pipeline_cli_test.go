package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// plServiceState is what bad input must leave alone: every service's ID,
// name, spec version and meta version.
func plServiceState(t *testing.T, m *manager) string {
	t.Helper()
	svcs, err := plServices(t, m)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range svcs {
		lines = append(lines, fmt.Sprintf("%s %s spec_version=%d version=%d", s.GetId(), s.GetSpec().GetName(), s.GetSpecVersion(), s.GetMeta().GetVersion()))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestServiceBadInput: each bad service command fails with a short message
// on stderr that names what is wrong, exits non-zero, prints nothing on
// stdout and stores nothing.
func TestServiceBadInput(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	dup := plMark(t, "dup")
	marks = append(marks, dup)
	mustRun(t, "--data-dir", m1.dir, "service", "create", "--name", "dup", "--detach", "--process", "--", "sh", "-c", plLoop, dup)
	mustRun(t, "--data-dir", m1.dir, "service", "create", "--name", "glob", "--mode", "global", "--detach", "--process", "--", "sh", "-c", plLoop, dup)

	d := []string{"--data-dir", m1.dir}
	with := func(args ...string) []string { return append(append([]string{}, d...), args...) }
	create := func(flags ...string) []string {
		return with(append(append([]string{"service", "create", "--detach"}, flags...), "--process", "--", "sh", "-c", "true")...)
	}
	cases := []struct {
		name string
		args []string
		want []string // all in stderr, case-insensitive
	}{
		{"negative replicas", create("--replicas", "-1"), []string{"--replicas"}},
		{"constraint with one =", create("--constraint", "node.labels.zone=a"), []string{"constraint", "node.labels.zone=a"}},
		{"constraint unknown field", create("--constraint", "node.color==red"), []string{"constraint", "node.color"}},
		{"memory unit", with("service", "create", "--detach", "--limit-memory", "12XB", "busybox"), []string{"--limit-memory", "12XB"}},
		{"reserve cpu", create("--reserve-cpu", "lots"), []string{"--reserve-cpu"}},
		{"restart condition", create("--restart-condition", "sometimes"), []string{"--restart-condition"}},
		{"restart attempts", create("--restart-max-attempts", "-1"), []string{"--restart-max-attempts"}},
		{"publish port 0", create("--publish", "0"), []string{"--publish"}},
		{"no command", with("service", "create", "--detach", "--process", "--"), []string{"--process", "command"}},
		{"mode bogus", create("--mode", "bogus"), []string{"--mode", "bogus"}},
		{"duplicate name", create("--name", "dup"), []string{"dup", "exists"}},
		{"ps unknown", with("service", "ps", "nosuch"), []string{"nosuch", "not found"}},
		{"inspect unknown", with("service", "inspect", "nosuch"), []string{"nosuch", "not found"}},
		{"scale unknown", with("service", "scale", "nosuch=3"), []string{"nosuch", "not found"}},
		{"scale negative", with("service", "scale", "dup=-2"), []string{"dup=-2"}},
		{"scale no count", with("service", "scale", "dup"), []string{"SERVICE=REPLICAS"}},
		{"scale global", with("service", "scale", "glob=3"), []string{"global"}},
		{"rm unknown", with("service", "rm", "nosuch"), []string{"nosuch", "not found"}},
		{"logs unknown", with("service", "logs", "nosuch"), []string{"nosuch", "not found"}},
		{"update unknown", with("service", "update", "--replicas", "2", "nosuch"), []string{"nosuch", "not found"}},
		{"ps yaml", with("service", "ps", "dup", "--format", "yaml"), []string{"--format"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := plServiceState(t, m1)
			r := run(t, tc.args...)
			se := strings.TrimSpace(r.Stderr)
			switch {
			case r.Code == 0:
				t.Errorf("exit 0, want an error\n%s", r)
			case se == "":
				t.Errorf("no message on stderr\n%s", r)
			case strings.Contains(se, "panic") || strings.Contains(se, "goroutine "):
				t.Errorf("crashed\n%s", r)
			case len(strings.Split(se, "\n")) > 3:
				t.Errorf("stderr has %d lines, want a short message\n%s", len(strings.Split(se, "\n")), r)
			case strings.TrimSpace(r.Stdout) != "":
				t.Errorf("printed on stdout although it failed\n%s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(se), strings.ToLower(w)) {
					t.Errorf("stderr does not mention %q\n%s", w, r)
				}
			}
			if after := plServiceState(t, m1); after != before {
				t.Errorf("services changed\nbefore:\n%s\nafter:\n%s", before, after)
			}
			t.Logf("exit %d: %s", r.Code, se)
		})
	}
}

// plLogLine is one line of `service logs` output: "PREFIX    | DATA".
var plLogLine = regexp.MustCompile(`^(\S+)\s+\| (.*)$`)

// plTick matches what the logging task prints: "tick SLOT N MARK".
var plTick = regexp.MustCompile(`^tick (\d+) (\d+) `)

// TestServiceLogs: `service logs --tail N` prints the last N lines of every
// task, each prefixed with the task's name; --follow keeps streaming new
// lines until it is stopped.
func TestServiceLogs(t *testing.T) {
	testStart := time.Now()
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	plJoinWorker(t, c, "w1", m1)

	mark := plMark(t, "logs")
	marks = append(marks, mark)
	script := `i=0; while :; do i=$((i+1)); echo "tick $SHOAL_TASK_SLOT $i $0"; sleep 0.3; done`
	r := m1.cli(t, "service", "create", "--name", "talk", "--replicas", "3", "--process", "--", "sh", "-c", script, mark)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	ts, err := serviceTasks(t, m1, "talk")
	if err != nil {
		t.Fatal(err)
	}
	if err := plCheckReplicas(ts, 3); err != nil {
		t.Fatal(err)
	}
	nodes, err := m1.nodes(t, false)
	if err != nil {
		t.Fatal(err)
	}
	host := map[string]string{}
	for _, n := range nodes {
		host[n.GetId()] = n.GetDescription().GetHostname()
	}
	// The task name as `service logs` prints it: service.slot.shortid@node.
	prefix := map[string]uint64{}
	onNodes := map[string]bool{}
	for _, tk := range ts {
		if !wantRunning(tk) {
			continue
		}
		p := fmt.Sprintf("talk.%d.%s@%s", tk.GetSlot(), tk.GetId()[:12], host[tk.GetNodeId()])
		prefix[p] = tk.GetSlot()
		onNodes[host[tk.GetNodeId()]] = true
	}
	t.Logf("tasks %v on nodes %v", prefix, onNodes)

	// parse checks a `service logs` output line and returns its task prefix
	// and tick number.
	parse := func(line string) (string, int, error) {
		m := plLogLine.FindStringSubmatch(line)
		if m == nil {
			return "", 0, fmt.Errorf("line %q is not PREFIX | DATA", line)
		}
		slot, ok := prefix[m[1]]
		if !ok {
			return "", 0, fmt.Errorf("line %q: prefix %q names none of the tasks %v", line, m[1], prefix)
		}
		tm := plTick.FindStringSubmatch(m[2])
		if tm == nil || tm[1] != strconv.FormatUint(slot, 10) {
			return "", 0, fmt.Errorf("line %q: data is not a tick of slot %d", line, slot)
		}
		n, _ := strconv.Atoi(tm[2])
		return m[1], n, nil
	}

	// Wait until every task has printed a few lines.
	eventually(t, waitTimeout, "every task has logged 4 lines", func() error {
		r := m1.cli(t, "service", "logs", "talk")
		if r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		count := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if p, _, err := parse(l); err == nil {
				count[p]++
			}
		}
		for p := range prefix {
			if count[p] < 4 {
				return fmt.Errorf("task %s has %d lines", p, count[p])
			}
		}
		return nil
	})

	// --tail 2: exactly the last 2 lines of each task, consecutive ticks.
	r = m1.cli(t, "service", "logs", "--tail", "2", "talk")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	ticks := map[string][]int{}
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		p, n, err := parse(l)
		if err != nil {
			t.Fatalf("service logs --tail 2: %v\n%s", err, r.Stdout)
		}
		ticks[p] = append(ticks[p], n)
	}
	last := map[string]int{}
	for p := range prefix {
		got := ticks[p]
		if len(got) != 2 || got[1] != got[0]+1 || got[0] < 3 {
			t.Errorf("task %s: --tail 2 gave ticks %v, want the last 2 consecutive ones (of at least 4)", p, got)
		}
		if len(got) > 0 {
			last[p] = got[len(got)-1]
		}
	}
	t.Logf("--tail 2 ticks per task: %v", ticks)

	// --follow: new lines (ticks past those seen above) arrive from every
	// task; then the command is stopped.
	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, shoalBin, "--data-dir", m1.dir, "service", "logs", "--follow", "--tail", "1", "talk")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The reader owns its counters; it hands them over when it ends.
		type outcome struct {
			err   error
			newer map[string]int
			lines int
			took  time.Duration
		}
		done := make(chan outcome, 1)
		go func() {
			o := outcome{newer: map[string]int{}}
			defer func() { o.took = time.Since(start); done <- o }()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				o.lines++
				p, n, err := parse(sc.Text())
				if err != nil {
					o.err = err
					return
				}
				if n > last[p] {
					o.newer[p]++
				}
				enough := true
				for q := range prefix {
					enough = enough && o.newer[q] >= 3
				}
				if enough {
					return
				}
			}
			o.err = fmt.Errorf("output ended: %v", sc.Err())
		}()
		var o outcome
		select {
		case o = <-done:
		case <-time.After(waitTimeout):
			cancel() // ends the output, so the reader returns
			o = <-done
			o.err = fmt.Errorf("not 3 new lines from every task within %s", waitTimeout)
		}
		if o.err != nil {
			t.Errorf("--follow: %v; new lines per task %v, %d lines read, stderr %q", o.err, o.newer, o.lines, stderr.String())
		} else {
			t.Logf("--follow: 3 new lines from each of the %d tasks within %s (%d lines read)", len(prefix), o.took.Round(time.Millisecond), o.lines)
		}
		// Stopping the follower ends it promptly.
		stopped := time.Now()
		cancel()
		_ = cmd.Wait()
		t.Logf("follower gone %s after cancel", time.Since(stopped).Round(time.Millisecond))
	})

	// --follow --tail 0 (as with docker): no history, only lines printed
	// from now on.
	t.Run("follow tail 0", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		// What every task has printed so far.
		r := m1.cli(t, "service", "logs", "--tail", "1", "talk")
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		seen := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if p, n, err := parse(l); err == nil {
				seen[p] = n
			}
		}
		cmd := exec.CommandContext(ctx, shoalBin, "--data-dir", m1.dir, "service", "logs", "--follow", "--tail", "0", "talk")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		sc := bufio.NewScanner(out)
		var old []string
		for i := 0; i < 6 && sc.Scan(); i++ {
			p, n, err := parse(sc.Text())
			if err != nil {
				t.Fatal(err)
			}
			if n <= seen[p] {
				old = append(old, sc.Text())
			}
		}
		if len(old) > 0 {
			t.Errorf("--follow --tail 0 printed %d lines of history (ticks already printed before it started), want none:\n%s",
				len(old), strings.Join(old, "\n"))
		}
	})
	t.Logf("TestServiceLogs took %s", time.Since(testStart).Round(time.Millisecond))
}
