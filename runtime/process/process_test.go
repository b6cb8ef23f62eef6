package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

const testAgentEnv = "SHOAL_PROCESS_TEST_AGENT"

func TestMain(m *testing.M) {
	MaybeRunShim()
	if dir := os.Getenv(testAgentEnv); dir != "" {
		os.Exit(runTestAgent(dir))
	}
	os.Exit(m.Run())
}

// runTestAgent plays an agent that starts a task and is then killed with SIGKILL by the test.
func runTestAgent(dir string) int {
	b, err := New(dir, nil)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	c, err := b.Controller(&runtime.TaskSpec{TaskID: "survivor", Kind: runtime.KindProcess, Command: []string{"sleep", "60"}})
	if err == nil {
		err = c.Start(context.Background())
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	st, _ := c.Inspect(context.Background())
	fmt.Println("pid", st.Pid)
	time.Sleep(time.Hour)
	return 0
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newBackend(t *testing.T, dir string, opts ...Option) *Backend {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	b, err := New(dir, nil, append([]Option{WithPollInterval(20 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func shSpec(id, script string) *runtime.TaskSpec {
	return &runtime.TaskSpec{TaskID: id, Kind: runtime.KindProcess, Command: []string{"/bin/sh", "-c", script}}
}

// run starts spec and registers a cleanup that kills and removes it.
func run(t *testing.T, b *Backend, spec *runtime.TaskSpec) runtime.Controller {
	t.Helper()
	ctx := testCtx(t)
	c, err := b.Controller(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	return c
}

func collectLogs(t *testing.T, c runtime.Controller, opts runtime.LogOptions) []runtime.LogLine {
	t.Helper()
	out := make(chan runtime.LogLine, 1024)
	errc := make(chan error, 1)
	go func() { errc <- c.Logs(testCtx(t), opts, out) }()
	var lines []runtime.LogLine
	for {
		select {
		case ll := <-out:
			lines = append(lines, ll)
		case err := <-errc:
			for {
				select {
				case ll := <-out:
					lines = append(lines, ll)
				default:
					if err != nil {
						t.Fatalf("logs: %v", err)
					}
					return lines
				}
			}
		}
	}
}

func texts(lines []runtime.LogLine) []string {
	var s []string
	for _, l := range lines {
		s = append(s, l.Stream+":"+string(l.Data))
	}
	return s
}

func TestControllerRejectsBadSpecs(t *testing.T) {
	b := newBackend(t, "")
	tests := []struct {
		name string
		spec *runtime.TaskSpec
		want error
	}{
		{"nil spec", nil, runtime.ErrInvalidSpec},
		{"container kind", &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindContainer, Image: "busybox"}, runtime.ErrUnsupported},
		{"empty kind", &runtime.TaskSpec{TaskID: "a", Command: []string{"true"}}, runtime.ErrUnsupported},
		{"empty command", &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindProcess}, runtime.ErrInvalidSpec},
		{"empty argv0", &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindProcess, Command: []string{""}}, runtime.ErrInvalidSpec},
		{"empty task id", &runtime.TaskSpec{Kind: runtime.KindProcess, Command: []string{"true"}}, runtime.ErrInvalidSpec},
		{"path in task id", &runtime.TaskSpec{TaskID: "../x", Kind: runtime.KindProcess, Command: []string{"true"}}, runtime.ErrInvalidSpec},
		{"bad stop signal", &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindProcess, Command: []string{"true"}, StopSignal: "SIGNOPE"}, runtime.ErrInvalidSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Controller(tt.spec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClusterNetworksAreIgnoredNotRefused(t *testing.T) {
	b := newBackend(t, "")
	s := &runtime.TaskSpec{TaskID: "a", Kind: runtime.KindProcess, Command: []string{"true"},
		Networks: []runtime.NetworkAttachment{{NetworkID: "n1", Addr: netip.MustParsePrefix("10.0.1.5/24")}}}
	if _, err := b.Controller(s); err != nil {
		t.Fatalf("Controller = %v, want a process task on a cluster network accepted (it shares the host's network)", err)
	}
}

func TestPrepareErrors(t *testing.T) {
	b := newBackend(t, "")
	notExec := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    runtime.TaskSpec
		want    error
		wantMsg string
	}{
		{"command not in PATH", runtime.TaskSpec{Command: []string{"no-such-command-xyz"}}, ErrCommandNotFound, `command "no-such-command-xyz" not found in PATH`},
		{"absolute path missing", runtime.TaskSpec{Command: []string{"/nope/bin/x"}}, ErrCommandNotFound, "/nope/bin/x"},
		{"not executable", runtime.TaskSpec{Command: []string{notExec}}, ErrCommandNotFound, "not executable"},
		{"task PATH is used", runtime.TaskSpec{Command: []string{"sh"}, Env: []string{"PATH=/nonexistent"}}, ErrCommandNotFound, "/nonexistent"},
		{"missing working dir", runtime.TaskSpec{Command: []string{"true"}, Dir: "/no/such/dir"}, runtime.ErrInvalidSpec, "working dir"},
		{"unknown user", runtime.TaskSpec{Command: []string{"true"}, User: "no-such-user-xyz"}, runtime.ErrInvalidSpec, "no-such-user-xyz"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.TaskID, spec.Kind = fmt.Sprintf("prep%d", i), runtime.KindProcess
			c, err := b.Controller(&spec)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Prepare(testCtx(t))
			if !errors.Is(err, tt.want) || !errors.Is(err, runtime.ErrInvalidSpec) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err %q does not mention %q", err, tt.wantMsg)
			}
			if _, err := c.Inspect(testCtx(t)); !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("inspect after failed prepare: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	b := newBackend(t, "")
	tests := []struct {
		script  string
		code    int
		message string
	}{
		{"exit 0", 0, ""},
		{"exit 3", 3, ""},
		{"false", 1, ""},
		{"kill -KILL $$", 137, "killed by signal 9"},
		{"kill -TERM $$", 143, "killed by signal 15"},
	}
	for i, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			c := run(t, b, shSpec(fmt.Sprintf("exit%d", i), tt.script))
			st, err := c.Wait(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if st.State != runtime.StateExited || st.ExitCode != tt.code || !strings.Contains(st.Message, tt.message) {
				t.Fatalf("status = %+v, want exited with %d %q", st, tt.code, tt.message)
			}
			if st.Pid == 0 || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
				t.Fatalf("bad pid/times in %+v", st)
			}
			ins, err := c.Inspect(testCtx(t))
			if err != nil || ins.State != runtime.StateExited || ins.ExitCode != tt.code {
				t.Fatalf("inspect = %+v, %v", ins, err)
			}
		})
	}
}

func TestEnvDirAndLogs(t *testing.T) {
	b := newBackend(t, "")
	wd := t.TempDir()
	spec := shSpec("envdir", `echo "foo=$FOO"; echo "task=$SHOAL_TASK_ID slot=$SHOAL_TASK_SLOT"; pwd; echo oops >&2; echo "home=${HOME:-unset}"`)
	spec.Env = []string{"FOO=bar baz"}
	spec.Dir = wd
	spec.Slot = 4
	c := run(t, b, spec)
	if _, err := c.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(texts(collectLogs(t, c, runtime.LogOptions{Tail: -1})), "\n")
	for _, want := range []string{"stdout:foo=bar baz", "stdout:task=envdir slot=4", "stdout:" + wd, "stderr:oops", "stdout:home=unset"} {
		if !strings.Contains(got, want) {
			t.Errorf("logs lack %q:\n%s", want, got)
		}
	}
}

func TestStartIsIdempotent(t *testing.T) {
	b := newBackend(t, "")
	c := run(t, b, shSpec("idem", "sleep 30"))
	st1, _ := c.Inspect(testCtx(t))
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	c2, err := b.Controller(&runtime.TaskSpec{TaskID: "idem"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	st2, _ := c2.Inspect(testCtx(t))
	if st1.State != runtime.StateRunning || st1.Pid != st2.Pid {
		t.Fatalf("second start changed the task: %+v vs %+v", st1, st2)
	}
}

func TestStopGraceful(t *testing.T) {
	b := newBackend(t, "")
	c := run(t, b, shSpec("graceful", "sleep 30"))
	start := time.Now()
	if err := c.Stop(testCtx(t), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("stop of a SIGTERM-able task took %v", d)
	}
	st, err := c.Wait(testCtx(t))
	if err != nil || st.ExitCode != 143 {
		t.Fatalf("wait = %+v, %v; want exit 143", st, err)
	}
	if err := c.Stop(testCtx(t), time.Second); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestStopGraceThenKill(t *testing.T) {
	b := newBackend(t, "")
	c := run(t, b, shSpec("stubborn", `trap '' TERM; echo ready; while true; do sleep 0.1; done`))
	waitForLine(t, c, "ready")
	grace := 500 * time.Millisecond
	start := time.Now()
	if err := c.Stop(testCtx(t), grace); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < grace {
		t.Fatalf("stop returned after %v, before the grace %v", d, grace)
	}
	st, err := c.Wait(testCtx(t))
	if err != nil || st.ExitCode != 137 {
		t.Fatalf("wait = %+v, %v; want exit 137 (SIGKILL)", st, err)
	}
}

func TestStopSignalFromSpec(t *testing.T) {
	b := newBackend(t, "")
	spec := shSpec("usr1", `trap 'echo got usr1; exit 42' USR1; echo ready; while true; do sleep 0.1; done`)
	spec.StopSignal = "SIGUSR1"
	c := run(t, b, spec)
	waitForLine(t, c, "ready")
	if err := c.Stop(testCtx(t), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Wait(testCtx(t))
	if st.ExitCode != 42 {
		t.Fatalf("exit = %d, want 42 from the USR1 trap", st.ExitCode)
	}
}

func waitForLine(t *testing.T, c runtime.Controller, want string) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	out := make(chan runtime.LogLine, 64)
	go func() { _ = c.Logs(ctx, runtime.LogOptions{Follow: true, Tail: -1}, out) }()
	for {
		select {
		case ll := <-out:
			if string(ll.Data) == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("never saw %q", want)
		}
	}
}

func TestLogsTailAndSince(t *testing.T) {
	b := newBackend(t, "")
	c := run(t, b, shSpec("tail", `for i in 1 2 3 4 5; do echo "line $i"; done; echo err1 >&2`))
	if _, err := c.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	all := collectLogs(t, c, runtime.LogOptions{Tail: -1})
	tests := []struct {
		name string
		opts runtime.LogOptions
		want int
	}{
		{"all", runtime.LogOptions{Tail: -1}, 6},
		{"tail 2", runtime.LogOptions{Tail: 2}, 2},
		{"tail 0", runtime.LogOptions{Tail: 0}, 0},
		{"tail more than there is", runtime.LogOptions{Tail: 100}, 6},
		{"since after the end", runtime.LogOptions{Tail: -1, Since: time.Now().Add(time.Hour)}, 0},
		{"since first line", runtime.LogOptions{Tail: -1, Since: all[0].Time}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collectLogs(t, c, tt.opts)
			if len(got) != tt.want {
				t.Fatalf("got %d lines %q, want %d", len(got), texts(got), tt.want)
			}
		})
	}
	// stdout and stderr are separate pipes, so their relative order is not
	// fixed; the tail must still be the end of the full history.
	last := collectLogs(t, c, runtime.LogOptions{Tail: 2})
	if got, want := strings.Join(texts(last), ","), strings.Join(texts(all[len(all)-2:]), ","); got != want {
		t.Fatalf("tail 2 = %q, want %q", got, want)
	}
	var stdout, stderr []string
	for _, ll := range all {
		if ll.Stream == "stdout" {
			stdout = append(stdout, string(ll.Data))
		} else {
			stderr = append(stderr, ll.Stream+":"+string(ll.Data))
		}
	}
	if strings.Join(stdout, ",") != "line 1,line 2,line 3,line 4,line 5" || strings.Join(stderr, ",") != "stderr:err1" {
		t.Fatalf("all = %q", texts(all))
	}
}

func TestLogsFollowUntilExit(t *testing.T) {
	b := newBackend(t, "")
	c := run(t, b, shSpec("follow", `echo first; sleep 0.5; for i in 1 2 3; do echo "n$i"; sleep 0.1; done`))
	got := texts(collectLogs(t, c, runtime.LogOptions{Follow: true, Tail: -1}))
	want := []string{"stdout:first", "stdout:n1", "stdout:n2", "stdout:n3"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("followed %q, want %q", got, want)
	}
}

func TestLogsFollowStopsOnContext(t *testing.T) {
	b := newBackend(t, "")
	c := run(t, b, shSpec("followctx", `echo hi; sleep 30`))
	ctx, cancel := context.WithCancel(testCtx(t))
	out := make(chan runtime.LogLine, 8)
	errc := make(chan error, 1)
	go func() { errc <- c.Logs(ctx, runtime.LogOptions{Follow: true, Tail: -1}, out) }()
	if ll := <-out; string(ll.Data) != "hi" {
		t.Fatalf("first line %q", ll.Data)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follow did not end on cancel")
	}
}

func TestLogRotation(t *testing.T) {
	b := newBackend(t, "", WithLogRotation(2048, 2))
	c := run(t, b, shSpec("rotate", `i=0; while [ $i -lt 400 ]; do echo "line $i padding-padding-padding"; i=$((i+1)); done`))
	if _, err := c.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(b.dir, "rotate")
	for _, name := range []string{"output.log", "output.log.1", "output.log.2"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi.Size() > 2048 {
			t.Fatalf("%s is %d bytes, over the 2048 limit", name, fi.Size())
		}
	}
	if exists(filepath.Join(dir, "output.log.3")) {
		t.Fatal("kept more than 2 old files")
	}
	lines := collectLogs(t, c, runtime.LogOptions{Tail: -1})
	if len(lines) == 0 || string(lines[len(lines)-1].Data) != "line 399 padding-padding-padding" {
		t.Fatalf("last line = %q", texts(lines[len(lines)-1:]))
	}
	// Lines come in order, without gaps, across the three files.
	first := -1
	for i, ll := range lines {
		var n int
		if _, err := fmt.Sscanf(string(ll.Data), "line %d", &n); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = n
		} else if n != first+i {
			t.Fatalf("line %d is %q, want line %d", i, ll.Data, first+i)
		}
	}
}

func TestLogsFollowAcrossRotation(t *testing.T) {
	b := newBackend(t, "", WithLogRotation(1024, 1))
	c := run(t, b, shSpec("rotfollow", `i=0; while [ $i -lt 150 ]; do echo "seq $i ........................"; i=$((i+1)); [ $((i % 10)) -eq 0 ] && sleep 0.2; done`))
	lines := collectLogs(t, c, runtime.LogOptions{Follow: true, Tail: -1})
	if len(lines) != 150 {
		t.Fatalf("followed %d lines, want 150", len(lines))
	}
	for i, ll := range lines {
		if want := fmt.Sprintf("seq %d ", i); !strings.HasPrefix(string(ll.Data), want) {
			t.Fatalf("line %d = %q", i, ll.Data)
		}
	}
}

func TestListAndRemove(t *testing.T) {
	b := newBackend(t, "")
	ctx := testCtx(t)
	run(t, b, shSpec("a", "exit 0"))
	cb := run(t, b, shSpec("b", "sleep 30"))
	ids, err := b.List(ctx)
	if err != nil || strings.Join(ids, ",") != "a,b" {
		t.Fatalf("list = %v, %v", ids, err)
	}
	pid := mustInspect(t, cb).Pid
	waitErr := make(chan error, 1)
	go func() { _, err := cb.Wait(ctx); waitErr <- err }()
	if err := cb.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waitErr; err != nil && !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("wait during remove: %v", err)
	}
	if processAlive(pid) {
		t.Fatalf("pid %d still alive after Remove", pid)
	}
	if ids, _ := b.List(ctx); strings.Join(ids, ",") != "a" {
		t.Fatalf("list after remove = %v", ids)
	}
	if _, err := cb.Inspect(ctx); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
	if err := cb.Remove(ctx); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func mustInspect(t *testing.T, c runtime.Controller) runtime.Status {
	t.Helper()
	st, err := c.Inspect(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func TestReadoption(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	b1, err := New(dir, nil, WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := b1.Controller(shSpec("adopt", "sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := mustInspect(t, c1).Pid
	b1.Close() // dropped without stopping anything

	b2 := newBackend(t, dir)
	ids, _ := b2.List(ctx)
	if len(ids) != 1 || ids[0] != "adopt" {
		t.Fatalf("list = %v", ids)
	}
	c2, err := b2.Controller(&runtime.TaskSpec{TaskID: "adopt"}) // ID only: attach
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Remove(context.Background()) })
	st := mustInspect(t, c2)
	if st.State != runtime.StateRunning || st.Pid != pid || !processAlive(pid) {
		t.Fatalf("adopted status = %+v, want running pid %d", st, pid)
	}
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustInspect(t, c2).Pid; got != pid {
		t.Fatalf("start after adoption started a new process: pid %d -> %d", pid, got)
	}
	waited := make(chan runtime.Status, 1)
	go func() { st, _ := c2.Wait(ctx); waited <- st }()
	if err := c2.Stop(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := <-waited; st.State != runtime.StateExited || st.ExitCode != 143 {
		t.Fatalf("wait after adoption = %+v, want exited 143", st)
	}
}

func TestReadoptionKeepsRealExitCode(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	b1, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []*runtime.TaskSpec{shSpec("later", "sleep 1; exit 7"), shSpec("early", "exit 5")} {
		c, err := b1.Controller(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	b1.Close()
	b2 := newBackend(t, dir)
	for id, code := range map[string]int{"later": 7, "early": 5} {
		c, err := b2.Controller(&runtime.TaskSpec{TaskID: id})
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.Wait(ctx)
		if err != nil || st.ExitCode != code {
			t.Fatalf("%s: wait = %+v, %v; want exit %d", id, st, err, code)
		}
		_ = c.Remove(ctx)
	}
}

// TestSurvivesAgentSIGKILL runs a real agent process (this test binary), kills
// it with SIGKILL, and re-adopts its task.
func TestSurvivesAgentSIGKILL(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(exe)
	agent.Env = append(os.Environ(), testAgentEnv+"="+dir)
	stdout, err := agent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		agent.Process.Kill()
		t.Fatal("agent printed nothing")
	}
	var pid int
	if _, err := fmt.Sscanf(sc.Text(), "pid %d", &pid); err != nil {
		agent.Process.Kill()
		t.Fatalf("agent said %q", sc.Text())
	}
	if err := agent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = agent.Wait()

	b := newBackend(t, dir)
	c, err := b.Controller(&runtime.TaskSpec{TaskID: "survivor"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	time.Sleep(200 * time.Millisecond)
	st := mustInspect(t, c)
	if st.State != runtime.StateRunning || st.Pid != pid || !processAlive(pid) {
		t.Fatalf("after agent SIGKILL: %+v, want running pid %d", st, pid)
	}
	if err := c.Stop(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = c.Wait(ctx)
	if err != nil || st.ExitCode != 143 {
		t.Fatalf("wait = %+v, %v", st, err)
	}
}

func TestShimDeathIsReported(t *testing.T) {
	b := newBackend(t, "")
	c := run(t, b, shSpec("orphan", "sleep 30"))
	st := mustInspect(t, c)
	var sf startedFile
	if _, err := readJSON(filepath.Join(b.dir, "orphan"), fileStarted, &sf); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(sf.ShimPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-st.Pid, syscall.SIGKILL)
	got, err := c.Wait(testCtx(t))
	if err != nil || got.State != runtime.StateUnknown || !strings.Contains(got.Message, "shim") {
		t.Fatalf("wait = %+v, %v; want unknown state naming the shim", got, err)
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		ok   bool
	}{
		{"", syscall.SIGTERM, true},
		{"SIGTERM", syscall.SIGTERM, true},
		{"term", syscall.SIGTERM, true},
		{"SIGKILL", syscall.SIGKILL, true},
		{"2", syscall.SIGINT, true},
		{"0", 0, false},
		{"SIGFOO", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSignal(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseSignal(%q) = %v, %v", tt.in, got, err)
		}
	}
}
