package process

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/runtime/logfile"
)

// ShimEnv is the environment variable that turns the binary into a shim. Its
// value is the absolute path of the task dir the shim runs.
const ShimEnv = "SHOAL_PROCESS_SHIM"

// How long the shim waits for the command's output pipes to drain after the
// command has exited (a daemonised grandchild may keep them open).
const shimDrainTimeout = 2 * time.Second

// MaybeRunShim must be called first thing in main (and in TestMain of any
// test binary that uses a process Backend). When the process was started as a
// shim (ShimEnv is set) it runs the shim and exits the process with os.Exit;
// it never returns in that case. Otherwise it returns at once and does nothing.
func MaybeRunShim() {
	dir := os.Getenv(ShimEnv)
	if dir == "" {
		return
	}
	os.Exit(runShim(dir))
}

// runShim runs the task in dir to completion. The shim was started by the
// backend with Setsid, so it leads its own session and outlives the agent.
func runShim(dir string) int {
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE, syscall.SIGINT)
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s shim: %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
	}

	lock, err := os.OpenFile(filepath.Join(dir, fileLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		logf("open lock: %v", err)
		return 2
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		logf("another shim holds %s: %v", fileLock, err)
		return 0
	}
	if exists(filepath.Join(dir, fileStarted)) || exists(filepath.Join(dir, fileExit)) {
		logf("task already started once; not starting it again")
		return 0
	}

	var tf taskFile
	ok, err := readJSON(dir, fileTask, &tf)
	if err != nil || !ok {
		logf("read %s: ok=%v err=%v", fileTask, ok, err)
		recordExit(dir, exitFile{ExitCode: 127, Message: fmt.Sprintf("shim: read task: %v", errOrMissing(err)), FinishedAt: time.Now()}, logf)
		return 0
	}

	out, err := logfile.OpenWriter(outputLog(dir, tf.LogKeep), tf.LogMaxBytes, nil)
	if err != nil {
		logf("open output log: %v", err)
		recordExit(dir, exitFile{ExitCode: 127, Message: fmt.Sprintf("shim: open output log: %v", err), FinishedAt: time.Now()}, logf)
		return 0
	}
	defer out.Close()

	devnull, err := os.Open(os.DevNull)
	if err != nil {
		logf("open %s: %v", os.DevNull, err)
		return 2
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		logf("pipe: %v", err)
		return 2
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		logf("pipe: %v", err)
		return 2
	}

	cmd := &exec.Cmd{
		Path:   tf.Path,
		Args:   tf.Argv,
		Env:    tf.Env,
		Dir:    tf.Dir,
		Stdin:  devnull,
		Stdout: outW,
		Stderr: errW,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid: true, // own process group, so Stop can signal the whole tree
		},
	}
	if tf.SetCred {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: tf.UID, Gid: tf.GID}
	}
	startErr := cmd.Start()
	outW.Close()
	errW.Close()
	devnull.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		code := 126
		if errors.Is(startErr, fs.ErrNotExist) {
			code = 127
		}
		logf("start: %v", startErr)
		recordExit(dir, exitFile{ExitCode: code, Message: fmt.Sprintf("start %s: %v", tf.Path, startErr), FinishedAt: time.Now()}, logf)
		return 0
	}
	pid := cmd.Process.Pid
	if err := writeJSONAtomic(dir, fileStarted, startedFile{Pid: pid, ShimPid: os.Getpid(), StartedAt: time.Now()}); err != nil {
		// Without started.json nobody can stop the task: do not let it run unseen.
		logf("record start: %v", err)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}

	var copiers sync.WaitGroup
	copiers.Add(2)
	copyLines := func(stream string, r io.Reader) {
		defer copiers.Done()
		if err := out.CopyLines(stream, r); err != nil {
			logf("write %s to the output log: %v", stream, err)
		}
	}
	go copyLines("stdout", outR)
	go copyLines("stderr", errR)

	waitErr := cmd.Wait()
	finished := time.Now()
	// The command is gone; take the rest of its process group with it, like a
	// container whose init exits.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !isESRCH(err) {
		logf("kill process group %d: %v", pid, err)
	}
	drained := make(chan struct{})
	go func() { copiers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(shimDrainTimeout):
		logf("output pipes still open %v after exit; closing them", shimDrainTimeout)
		outR.Close()
		errR.Close()
		<-drained
	}

	ef := exitFile{StartedOK: true, FinishedAt: finished}
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			ef.ExitCode = 128 + int(ws.Signal())
			ef.Message = fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
		} else {
			ef.ExitCode = ws.ExitStatus()
		}
	default:
		ef.ExitCode = -1
		ef.Message = fmt.Sprintf("wait: %v", waitErr)
	}
	recordExit(dir, ef, logf)
	return 0
}

func recordExit(dir string, ef exitFile, logf func(string, ...any)) {
	if err := writeJSONAtomic(dir, fileExit, ef); err != nil {
		logf("record exit: %v", err)
	}
}

func errOrMissing(err error) error {
	if err == nil {
		return fs.ErrNotExist
	}
	return err
}
