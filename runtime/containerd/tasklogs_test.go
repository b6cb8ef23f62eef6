package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/logfile"
)

// Integration tests of task output recorded by the shim-started logger.

func TestLogsStdoutStderrWithWriteTimes(t *testing.T) {
	e := newEnv(t)
	b := e.backend()
	before := time.Now()
	c := run(t, b, spec("streams", "sh", "-c", "echo out; echo err >&2"))
	if st, err := c.Wait(ctxT(t)); err != nil || st.ExitCode != 0 {
		t.Fatalf("wait = %+v, %v", st, err)
	}
	// Read some time after the exit: the times must be when the lines were
	// written (the logger stamps a line when it takes it from the pipe,
	// which on a loaded machine may lag the write), not when they are read.
	time.Sleep(5 * time.Second)
	readAt := time.Now()
	lines := collectLines(t, c, runtime.LogOptions{Tail: -1})
	after := time.Now()
	got := map[string]string{}
	for _, ll := range lines {
		got[ll.Stream] += string(ll.Data) + "|"
		if ll.Time.Before(before) || ll.Time.After(after) {
			t.Errorf("%s %q at %v, outside the test (%v .. %v)", ll.Stream, ll.Data, ll.Time, before, after)
		}
		if !ll.Time.Before(readAt.Add(-time.Second)) {
			t.Errorf("%s %q at %v: the read time (%v), not the write time", ll.Stream, ll.Data, ll.Time, readAt)
		}
	}
	if got["stdout"] != "out|" || got["stderr"] != "err|" || len(got) != 2 {
		t.Fatalf("lines by stream = %q", got)
	}
	if data, err := os.ReadFile(filepath.Join(b.taskDir("streams"), loggerErrors)); err == nil {
		t.Fatalf("the logger reported: %s", data)
	}
	// Since filters by write time.
	if l := collectLines(t, c, runtime.LogOptions{Tail: -1, Since: readAt}); len(l) != 0 {
		t.Fatalf("since after the writes: %d lines", len(l))
	}
	remove(t, c)
}

func TestLogsRotationWhileFollowing(t *testing.T) {
	e := newEnv(t)
	e.cfg.LogMaxBytes = 1024
	e.cfg.LogKeep = 200 // nothing is dropped: every line must be followed
	b := e.backend()
	const n = 400
	c := run(t, b, spec("rotating", "sh", "-c", fmt.Sprintf(
		`i=0; while [ $i -lt %d ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); [ $((i %% 100)) = 0 ] && sleep 0.2; done`, n)))
	lines := collectLines(t, c, runtime.LogOptions{Tail: -1, Follow: true})
	outs, errs := splitStreams(t, lines)
	for i := range n {
		if i >= len(outs) || outs[i] != fmt.Sprintf("line %d", i) || i >= len(errs) || errs[i] != fmt.Sprintf("err %d", i) {
			t.Fatalf("followed %d stdout and %d stderr lines; out of order or missing at %d:\n%q\n%q", len(outs), len(errs), i, outs, errs)
		}
	}
	if len(outs) != n || len(errs) != n {
		t.Fatalf("followed %d stdout and %d stderr lines, want %d each", len(outs), len(errs), n)
	}
	for i := 1; i < len(lines); i++ {
		if lines[i].Time.Before(lines[i-1].Time) {
			t.Fatalf("line %d written at %v, before line %d at %v", i, lines[i].Time, i-1, lines[i-1].Time)
		}
	}
	files, _ := filepath.Glob(filepath.Join(b.taskDir("rotating"), logName+"*"))
	if len(files) < 10 {
		t.Fatalf("%d log files for ~%d KiB of records at 1 KiB each", len(files), 2*n*50/1024)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Size() > 1024 {
			t.Fatalf("%s is %d bytes, over the 1024 limit", f, fi.Size())
		}
	}
	remove(t, c)
}

// TestLogsRecordedWhileAgentDown: the logger is the shim's child, so what the task
// writes while no backend runs is recorded, and a new backend reads it.
func TestLogsRecordedWhileAgentDown(t *testing.T) {
	e := newEnv(t)
	b1 := e.backend()
	ctl := t.TempDir()
	s := spec("survivor", "sh", "-c", `echo before; while [ ! -e /ctl/go ]; do sleep 0.1; done; echo during >&2; exec sleep 600`)
	s.Mounts = []runtime.Mount{{Type: "bind", Source: ctl, Target: "/ctl", ReadOnly: true}}
	c1 := run(t, b1, s)
	waitLog(t, c1, "before")
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	// No backend now. The task writes; its logger records.
	down := time.Now()
	if err := os.WriteFile(filepath.Join(ctl, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	set := logfile.Set{Dir: filepath.Join(e.stateDir, "tasks", "survivor"), Name: logName, Keep: defaultLogKeep}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := make(chan runtime.LogLine, 16)
		if err := logfile.Stream(context.Background(), set, runtime.LogOptions{Tail: -1}, out, nil, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		close(out)
		var seen []string
		for ll := range out {
			seen = append(seen, ll.Stream+":"+string(ll.Data))
		}
		if slices.Contains(seen, "stderr:during") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing recorded while the agent was down: %q", seen)
		}
		time.Sleep(100 * time.Millisecond)
	}

	b2 := e.backend()
	c2, err := b2.Controller(s)
	if err != nil {
		t.Fatal(err)
	}
	lines := collectLines(t, c2, runtime.LogOptions{Tail: -1})
	var got []string
	for _, ll := range lines {
		got = append(got, ll.Stream+":"+string(ll.Data))
	}
	if strings.Join(got, ",") != "stdout:before,stderr:during" {
		t.Fatalf("logs after the restart = %q", got)
	}
	if !lines[1].Time.After(down) || !lines[0].Time.Before(down) {
		t.Fatalf("write times %v, %v; agent down at %v", lines[0].Time, lines[1].Time, down)
	}
	remove(t, c2)
}
