package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/internal/atomicfile"
	"github.com/shoal-project/shoal/runtime/logfile"
)

// Names of the files inside one task dir.
const (
	fileTask    = "task.json"    // written by Prepare: what to run
	fileStarted = "started.json" // written by the shim once the command runs
	fileExit    = "exit.json"    // written by the shim when the command has exited
	fileLock    = "shim.lock"    // flock held by the live shim
	fileShimLog = "shim.log"     // the shim's own stderr
	fileOutput  = "output.log"   // the command's stdout and stderr, one line per record
	dirFiles    = "files"        // a tmpfs: the task's secrets and configs (runtime/taskfiles)
)

// taskFile is what Prepare resolved from the TaskSpec; the shim runs exactly this.
type taskFile struct {
	TaskID      string        `json:"task_id"`
	Path        string        `json:"path"`
	Argv        []string      `json:"argv"`
	Env         []string      `json:"env"`
	Dir         string        `json:"dir,omitempty"`
	SetCred     bool          `json:"set_cred,omitempty"`
	UID         uint32        `json:"uid,omitempty"`
	GID         uint32        `json:"gid,omitempty"`
	StopSignal  int           `json:"stop_signal"`
	StopGrace   time.Duration `json:"stop_grace"`
	LogMaxBytes int64         `json:"log_max_bytes"`
	LogKeep     int           `json:"log_keep"`
	CreatedAt   time.Time     `json:"created_at"`
}

// startedFile records the running command.
type startedFile struct {
	Pid       int       `json:"pid"`
	ShimPid   int       `json:"shim_pid"`
	StartedAt time.Time `json:"started_at"`
}

// exitFile records how the command ended.
type exitFile struct {
	ExitCode   int       `json:"exit_code"`
	Message    string    `json:"message,omitempty"`
	StartedOK  bool      `json:"started_ok"`
	FinishedAt time.Time `json:"finished_at"`
}

// writeJSONAtomic writes v to dir/name so a reader never sees a partial file.
func writeJSONAtomic(dir, name string, v any) error {
	return atomicfile.WriteJSON(filepath.Join(dir, name), v, 0o600)
}

// readJSON reads dir/name into v. It reports (false, nil) when the file does not exist.
func readJSON(dir, name string, v any) (bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", filepath.Join(dir, name), err)
	}
	return true, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// shimAlive reports whether a shim holds the task dir's lock. It takes a
// shared lock without blocking and drops it at once; failing to get it means
// the exclusive holder (the shim) is alive. Pids are never trusted, so pid
// reuse cannot fool it.
func shimAlive(dir string) bool {
	f, err := os.Open(filepath.Join(dir, fileLock))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// errno helpers shared by the shim and the backend.
func isESRCH(err error) bool { return errors.Is(err, syscall.ESRCH) }

// outputLog is the task's rotated output log.
func outputLog(dir string, keep int) logfile.Set {
	return logfile.Set{Dir: dir, Name: fileOutput, Keep: keep}
}
