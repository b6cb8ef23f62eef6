package process

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shoal-project/shoal/runtime"
)

// ErrCommandNotFound is returned (wrapped) by Prepare when the task's command
// cannot be found or is not executable. It wraps runtime.ErrInvalidSpec.
var ErrCommandNotFound = fmt.Errorf("%w: command not found", runtime.ErrInvalidSpec)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// envValue returns the value of key in env (last one wins), and whether it is set.
func envValue(env []string, key string) (string, bool) {
	val, ok := "", false
	for _, kv := range env {
		if k, v, found := strings.Cut(kv, "="); found && k == key {
			val, ok = v, true
		}
	}
	return val, ok
}

// childEnv builds the command's environment: the spec's Env, a default PATH if
// it has none, and SHOAL_TASK_* variables describing the task.
func childEnv(spec *runtime.TaskSpec) []string {
	env := make([]string, 0, len(spec.Env)+5)
	if _, ok := envValue(spec.Env, "PATH"); !ok {
		env = append(env, "PATH="+defaultPath)
	}
	env = append(env,
		"SHOAL_TASK_ID="+spec.TaskID,
		"SHOAL_TASK_SLOT="+strconv.FormatUint(spec.Slot, 10),
		"SHOAL_SERVICE_ID="+spec.ServiceID,
		"SHOAL_SERVICE_NAME="+spec.ServiceName,
		"SHOAL_NODE_ID="+spec.NodeID,
	)
	return append(env, spec.Env...)
}

// lookCommand resolves argv0 the way a shell would, but with the task's PATH
// and working dir instead of the agent's.
func lookCommand(argv0, dir string, env []string) (string, error) {
	if strings.Contains(argv0, "/") {
		p := argv0
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("command %q: %v: %w", argv0, err, ErrCommandNotFound)
		}
		return p, nil
	}
	path, _ := envValue(env, "PATH")
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) && dir != "" {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, argv0)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q: %w", argv0, path, ErrCommandNotFound)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errors.New("permission denied (not executable)")
	}
	return nil
}

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"TERM": syscall.SIGTERM, "STOP": syscall.SIGSTOP, "PWR": syscall.SIGPWR,
	"WINCH": syscall.SIGWINCH, "ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM,
}

// parseSignal accepts "SIGTERM", "TERM", "term" or "15". Empty means SIGTERM.
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("stop signal %q out of range: %w", s, runtime.ErrInvalidSpec)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signalNames[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown stop signal %q: %w", s, runtime.ErrInvalidSpec)
}

// parseUser resolves "uid", "uid:gid", "name" or "name:group" to numeric ids.
func parseUser(s string) (uid, gid uint32, err error) {
	name, group, hasGroup := strings.Cut(s, ":")
	if n, perr := strconv.ParseUint(name, 10, 32); perr == nil {
		uid, gid = uint32(n), uint32(n)
		if u, lerr := user.LookupId(name); lerr == nil {
			if g, gerr := strconv.ParseUint(u.Gid, 10, 32); gerr == nil {
				gid = uint32(g)
			}
		}
	} else {
		u, lerr := user.Lookup(name)
		if lerr != nil {
			return 0, 0, fmt.Errorf("user %q: %v: %w", s, lerr, runtime.ErrInvalidSpec)
		}
		n, _ := strconv.ParseUint(u.Uid, 10, 32)
		g, _ := strconv.ParseUint(u.Gid, 10, 32)
		uid, gid = uint32(n), uint32(g)
	}
	if hasGroup {
		if n, perr := strconv.ParseUint(group, 10, 32); perr == nil {
			gid = uint32(n)
		} else {
			g, lerr := user.LookupGroup(group)
			if lerr != nil {
				return 0, 0, fmt.Errorf("group %q: %v: %w", group, lerr, runtime.ErrInvalidSpec)
			}
			n, _ := strconv.ParseUint(g.Gid, 10, 32)
			gid = uint32(n)
		}
	}
	return uid, gid, nil
}

// validTaskID reports whether id is safe to use as a directory name.
func validTaskID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 200 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
