package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/logfile"
)

func TestParseLoggerArgs(t *testing.T) {
	env := func(id string) func(string) string {
		return func(k string) string {
			if k == "CONTAINER_ID" {
				return id
			}
			return ""
		}
	}
	tests := []struct {
		name     string
		args     []string
		id       string
		ok       bool
		dir      string
		maxBytes int64
		keep     int
	}{
		{"all, one order", []string{loggerArgDir, "/s/t", loggerArgMaxBytes, "100", loggerArgKeep, "3"}, "t", true, "/s/t", 100, 3},
		{"all, another order", []string{loggerArgKeep, "0", loggerArgDir, "/s/t", loggerArgMaxBytes, "7"}, "t", true, "/s/t", 7, 0},
		{"defaults", []string{loggerArgDir, "/s/t"}, "t", true, "/s/t", defaultLogMaxBytes, 0},
		{"bad numbers keep defaults", []string{loggerArgDir, "/s/t", loggerArgMaxBytes, "-1", loggerArgKeep, "x"}, "t", true, "/s/t", defaultLogMaxBytes, 0},
		{"not started by a shim", []string{loggerArgDir, "/s/t"}, "", false, "", 0, 0},
		{"a shoal command", []string{"service", "logs"}, "t", false, "", 0, 0},
		{"odd args", []string{loggerArgDir, "/s/t", "x"}, "t", false, "", 0, 0},
		{"relative dir", []string{loggerArgDir, "s/t"}, "t", false, "", 0, 0},
		{"no args", nil, "t", false, "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok := parseLoggerArgs(tc.args, env(tc.id))
			if ok != tc.ok {
				t.Fatalf("ok = %v", ok)
			}
			if ok && (cfg.set.Dir != tc.dir || cfg.maxBytes != tc.maxBytes || cfg.set.Keep != tc.keep || cfg.set.Name != logName) {
				t.Fatalf("cfg = %+v", cfg)
			}
		})
	}
	// What the backend passes is what the logger reads.
	set := logfile.Set{Dir: "/state/tasks/t1", Name: logName, Keep: 4}
	var args []string
	for k, v := range loggerArgs(set, 1234) {
		args = append(args, k, v)
	}
	cfg, ok := parseLoggerArgs(args, env("t1"))
	if !ok || cfg.set != set || cfg.maxBytes != 1234 {
		t.Fatalf("round trip: %+v %v", cfg, ok)
	}
}

// loggerRig runs runLogger in this process on two pipes, as the shim would.
type loggerRig struct {
	t            *testing.T
	dir          string
	stdoutW      *os.File
	stderrW      *os.File
	term         chan os.Signal
	exit         chan int
	readyClosed  chan struct{}
	closedWrites bool
}

func startLogger(t *testing.T, maxBytes int64, keep int) *loggerRig {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "task")
	var outP, errP [2]int
	if err := syscall.Pipe2(outP[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Pipe2(errP[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &loggerRig{
		t: t, dir: dir,
		stdoutW: os.NewFile(uintptr(outP[1]), "stdout-w"), stderrW: os.NewFile(uintptr(errP[1]), "stderr-w"),
		term: make(chan os.Signal, 1), exit: make(chan int, 1), readyClosed: make(chan struct{}),
	}
	cfg := loggerConfig{set: logfile.Set{Dir: dir, Name: logName, Keep: keep}, maxBytes: maxBytes, termGrace: 200 * time.Millisecond}
	go func() { r.exit <- runLogger(cfg, outP[0], errP[0], readyW, r.term) }()
	go func() {
		buf := make([]byte, 1)
		readyR.Read(buf) // EOF once the logger closed its end
		readyR.Close()
		close(r.readyClosed)
	}()
	select {
	case <-r.readyClosed:
	case <-time.After(30 * time.Second):
		t.Fatal("logger never signalled ready")
	}
	t.Cleanup(func() {
		r.closeWrites()
		select {
		case <-r.exit:
		case <-time.After(30 * time.Second):
			t.Error("logger did not exit")
		}
	})
	return r
}

func (r *loggerRig) closeWrites() {
	if !r.closedWrites {
		r.closedWrites = true
		r.stdoutW.Close()
		r.stderrW.Close()
	}
}

func (r *loggerRig) lines() []runtime.LogLine {
	r.t.Helper()
	out := make(chan runtime.LogLine, 1<<14)
	if err := logfile.Stream(context.Background(), logfile.Set{Dir: r.dir, Name: logName, Keep: 100}, runtime.LogOptions{Tail: -1}, out, nil, time.Millisecond); err != nil {
		r.t.Fatal(err)
	}
	close(out)
	var got []runtime.LogLine
	for ll := range out {
		got = append(got, ll)
	}
	return got
}

func render(lines []runtime.LogLine) string {
	var sb strings.Builder
	for _, ll := range lines {
		fmt.Fprintf(&sb, "%s:%s|", ll.Stream, ll.Data)
	}
	return sb.String()
}

func TestLoggerDrainRecordsEverythingWritten(t *testing.T) {
	before := time.Now()
	r := startLogger(t, 1<<20, 2)
	r.stdoutW.WriteString("out1\nout2\n")
	r.stderrW.WriteString("err1\npartial")
	// The writers stay open, as the shim keeps them: only a drain makes the
	// logger record what is in the pipes, the partial line included.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := drainLogger(ctx, r.dir, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got := r.lines()
	for _, ll := range got {
		if ll.Time.Before(before) || ll.Time.After(time.Now()) {
			t.Errorf("record time %v outside the test", ll.Time)
		}
	}
	outs, errs := splitStreams(t, got)
	if !slices.Equal(outs, []string{"out1", "out2"}) || !slices.Equal(errs, []string{"err1", "partial"}) {
		t.Fatalf("records = %s", render(got))
	}
	if ents, _ := filepath.Glob(filepath.Join(r.dir, drainedPrefix+"*")); len(ents) != 0 {
		t.Fatalf("answers left behind: %v", ents)
	}

	// At EOF the logger exits and takes its FIFO along; draining then is a no-op.
	r.stdoutW.WriteString("last")
	r.closeWrites()
	select {
	case code := <-r.exit:
		if code != 0 {
			t.Fatalf("logger exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logger did not exit at EOF")
	}
	r.exit <- 0 // for the cleanup
	if _, err := os.Stat(filepath.Join(r.dir, loggerSync)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sync FIFO left: %v", err)
	}
	if err := drainLogger(ctx, r.dir, time.Second); err != nil {
		t.Fatalf("drain without logger: %v", err)
	}
	if got := render(r.lines()); !strings.HasSuffix(got, "stdout:last|") {
		t.Fatalf("final partial line not recorded: %s", got)
	}
}

func TestLoggerRotates(t *testing.T) {
	r := startLogger(t, 512, 3)
	var want []string
	for i := range 200 {
		line := fmt.Sprintf("line %03d", i)
		want = append(want, "stdout:"+line+"|")
		r.stdoutW.WriteString(line + "\n")
	}
	if err := drainLogger(context.Background(), r.dir, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for n := 0; n <= 3; n++ {
		fi, err := os.Stat(filepath.Join(r.dir, fmt.Sprintf("%s.%d", logName, n)))
		if n == 0 {
			fi, err = os.Stat(filepath.Join(r.dir, logName))
		}
		if err != nil {
			t.Fatalf("file %d: %v", n, err)
		}
		if fi.Size() > 512 {
			t.Fatalf("file %d is %d bytes", n, fi.Size())
		}
	}
	if _, err := os.Stat(filepath.Join(r.dir, logName+".4")); err == nil {
		t.Fatal("more than 3 old files kept")
	}
	got := render(r.lines())
	if !strings.HasSuffix(strings.Join(want, ""), got) || !strings.HasSuffix(got, "stdout:line 199|") {
		t.Fatalf("records are not the newest ones in order: %s", got)
	}
}

func TestLoggerExitsAfterTermGrace(t *testing.T) {
	r := startLogger(t, 1<<20, 1)
	r.stdoutW.WriteString("before term\n")
	r.term <- syscall.SIGTERM // the writers stay open: only the grace ends it
	select {
	case code := <-r.exit:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logger ignored SIGTERM past its grace")
	}
	r.exit <- 0
	if got := render(r.lines()); got != "stdout:before term|" {
		t.Fatalf("records = %s", got)
	}
}

func TestDrainWithoutLogger(t *testing.T) {
	dir := t.TempDir()
	// No FIFO at all (a task of an older agent), and a FIFO nobody reads.
	if err := drainLogger(context.Background(), dir, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, loggerSync), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := drainLogger(context.Background(), dir, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestReadDrainRequests(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	syscall.Write(p[1], []byte("00aa\n../etc\nBEEF\n\nff11\n"))
	if got := readDrainRequests(p[0]); !slices.Equal(got, []string{"00aa", "ff11"}) {
		t.Fatalf("tokens = %q", got)
	}
	if got := readDrainRequests(p[0]); len(got) != 0 {
		t.Fatalf("tokens from an empty FIFO = %q", got)
	}
}
