package containerd

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/taskfiles"
)

// A task's secrets and configs live in a tmpfs in its state directory
// (runtime/taskfiles), populated by Start before the task is created; each
// file is bind-mounted read-only at its path, so the container sees no
// other file of the tmpfs and nothing of it is written to disk.
const dirFiles = "files"

func (b *Backend) filesDir(id string) string { return filepath.Join(b.taskDir(id), dirFiles) }

// fileMounts are the bind mounts of a task's secret and config files.
func fileMounts(s *runtime.TaskSpec, root string) []specs.Mount {
	out := make([]specs.Mount, 0, len(s.Files))
	for _, f := range s.Files {
		out = append(out, specs.Mount{Type: "bind", Source: taskfiles.Source(root, f), Destination: f.Path,
			Options: []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}})
	}
	return out
}

// clearFiles frees the task's secrets and configs (the task ended).
func (c *controller) clearFiles() {
	if err := taskfiles.Clear(c.b.filesDir(c.id)); err != nil {
		c.b.log.Warn("free the task's secrets and configs", "task", c.id, "err", err)
	}
}
