// Package taskfiles puts a task's secret and config files into a private
// tmpfs, so their data is in memory only, never on the node's disk.
//
// It owns the tmpfs mount at a directory the backend names, the files'
// layout under it (each at its container path) and their removal. It does
// not decide where the directory is nor how a task sees it (bind mounts
// for a container, an environment variable for a process).
package taskfiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/runtime"
)

// Environment variables a process task finds its files by.
const (
	EnvSecretsDir = "SHOAL_SECRETS_DIR"
	EnvConfigsDir = "SHOAL_CONFIGS_DIR"
	// SecretsPath is where secrets are, in a container and under the root.
	SecretsPath = "/run/secrets"
)

// ErrPath is returned for a file path that would leave the directory.
var ErrPath = errors.New("taskfiles: a file path must be absolute and clean")

// Source is the host path of f's data under root.
func Source(root string, f runtime.File) string {
	return filepath.Join(root, f.Path)
}

// Env is what a process task is told: where its secrets and configs are.
func Env(root string) []string {
	return []string{EnvSecretsDir + "=" + filepath.Join(root, SecretsPath), EnvConfigsDir + "=" + root}
}

// tmpfsSize leaves room for the files' pages and their directories.
func tmpfsSize(files []runtime.File) int {
	n := 1 << 20
	for _, f := range files {
		n += len(f.Data) + 2*os.Getpagesize()
	}
	return n
}

// Populate mounts a private tmpfs at root (mode 0700, owned by root) and
// writes files into it. A root that is already a populated mount (a task
// re-adopted after an agent restart) is left as it is; no files, no mount.
func Populate(root string, files []runtime.File) error {
	for _, f := range files {
		if !filepath.IsAbs(f.Path) || filepath.Clean(f.Path) != f.Path || f.Path == "/" {
			return fmt.Errorf("%w: %q", ErrPath, f.Path)
		}
	}
	if len(files) == 0 || mounted(root) {
		return nil
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("taskfiles: %w", err)
	}
	opts := fmt.Sprintf("mode=0700,size=%d", tmpfsSize(files))
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("taskfiles: mount a tmpfs at %s (secrets and configs are kept in memory; this needs root): %w", root, err)
	}
	for _, f := range files {
		if err := write(root, f); err != nil {
			_ = Clear(root)
			return err
		}
	}
	return nil
}

func write(root string, f runtime.File) error {
	p := Source(root, f)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("taskfiles: %w", err)
	}
	mode := os.FileMode(f.Mode & 0o777)
	if err := os.WriteFile(p, f.Data, 0o600); err != nil {
		return fmt.Errorf("taskfiles: write %s: %w", f.Path, err)
	}
	if err := os.Chown(p, int(f.UID), int(f.GID)); err != nil {
		return fmt.Errorf("taskfiles: chown %s: %w", f.Path, err)
	}
	if err := os.Chmod(p, mode); err != nil {
		return fmt.Errorf("taskfiles: chmod %s: %w", f.Path, err)
	}
	return nil
}

// Clear unmounts root's tmpfs (its data goes with it) and removes root.
// Safe to repeat; a missing root is not an error.
func Clear(root string) error {
	if mounted(root) {
		if err := unix.Unmount(root, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("taskfiles: unmount %s: %w", root, err)
		}
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("taskfiles: %w", err)
	}
	return nil
}

// mounted reports whether root is a tmpfs mount point.
func mounted(root string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return false
	}
	return !sameDevice(root, filepath.Dir(root))
}

func sameDevice(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}
