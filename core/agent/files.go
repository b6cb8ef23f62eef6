package agent

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime"
)

// secretsDir is where a container finds its secrets (swarm's place).
const secretsDir = "/run/secrets"

// fileCache holds the data of the secrets and configs of the node's tasks
// as the latest assignment message gave them: in memory only, never in the
// state file (which keeps the tasks, whose specs only name them).
type fileCache struct {
	mu      sync.Mutex
	secrets map[string][]byte
	configs map[string][]byte
}

// set replaces the cache with what m carries: every message carries all
// the files of the node's tasks, so what it leaves out is dropped. changed
// says whether the set of IDs changed.
func (c *fileCache) set(m *shoalv1.AssignmentsMessage) (changed bool) {
	byID := func(fs []*shoalv1.AssignedFile) map[string][]byte {
		out := make(map[string][]byte, len(fs))
		for _, f := range fs {
			out[f.GetId()] = f.GetData()
		}
		return out
	}
	secs, cfgs := byID(m.GetSecrets()), byID(m.GetConfigs())
	c.mu.Lock()
	defer c.mu.Unlock()
	changed = !sameKeys(secs, c.secrets) || !sameKeys(cfgs, c.configs)
	c.secrets, c.configs = secs, cfgs
	return changed
}

func sameKeys(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// ids lists the IDs of the secrets and configs held (never their data).
func (c *fileCache) ids() (secrets, configs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.secrets)), slices.Sorted(maps.Keys(c.configs))
}

// forTask returns the task's files; missing names the first one the
// managers did not send.
func (c *fileCache) forTask(t *shoalv1.Task) (files []runtime.File, missing error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range t.GetSpec().GetSecrets() {
		data, ok := c.secrets[r.GetSecretId()]
		if !ok {
			missing = fmtMissing(missing, "secret", r.GetSecretName(), r.GetSecretId())
			continue
		}
		files = append(files, runtime.File{Path: path.Join(secretsDir, r.GetTarget()), Data: data, UID: r.GetUid(), GID: r.GetGid(), Mode: r.GetMode()})
	}
	for _, r := range t.GetSpec().GetConfigs() {
		data, ok := c.configs[r.GetConfigId()]
		if !ok {
			missing = fmtMissing(missing, "config", r.GetConfigName(), r.GetConfigId())
			continue
		}
		files = append(files, runtime.File{Path: r.GetTarget(), Data: data, UID: r.GetUid(), GID: r.GetGid(), Mode: r.GetMode()})
	}
	return files, missing
}

func fmtMissing(prev error, what, name, id string) error {
	if prev != nil {
		return prev
	}
	return fmt.Errorf("%s %q (%s) did not come with the node's assignments (removed?): %w", what, name, id, runtime.ErrInvalidSpec)
}

func usesFiles(t *shoalv1.Task) bool {
	return len(t.GetSpec().GetSecrets())+len(t.GetSpec().GetConfigs()) > 0
}

// awaitFiles makes a task that uses secrets or configs wait for the
// managers' first assignment set, which brings them (a task re-adopted
// from the state file has none yet), and checks they all came. ok is
// false when run must look at a new assignment (or stop) first.
func (w *worker) awaitFiles(ctx context.Context, t *shoalv1.Task) (ok bool, err error) {
	if !usesFiles(t) {
		return true, nil
	}
	select {
	case <-w.a.synced:
	case <-w.kick:
		return false, nil
	case <-ctx.Done():
		return false, nil
	}
	_, err = w.a.files.forTask(t)
	return true, err
}
