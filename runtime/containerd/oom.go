package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
)

// oomWatcher records TaskOOM events of the namespace as marker files in each task's
// state directory, so a Wait (even in a restarted agent) can report OOMKilled.
type oomWatcher struct {
	client *client.Client
	ns     string
	dir    string
	log    *slog.Logger
	ready  chan struct{} // closed once the first subscription is established
}

func newOOMWatcher(c *client.Client, ns, dir string, log *slog.Logger) *oomWatcher {
	return &oomWatcher{client: c, ns: ns, dir: dir, log: log, ready: make(chan struct{})}
}

func (w *oomWatcher) marker(id string) string { return filepath.Join(w.dir, id, "oom") }

// oomKilled reports whether a TaskOOM event was seen for the container.
func (w *oomWatcher) oomKilled(id string) bool {
	_, err := os.Stat(w.marker(id))
	return err == nil
}

func (w *oomWatcher) record(id string) {
	if err := os.MkdirAll(filepath.Join(w.dir, id), 0o700); err != nil {
		w.log.Warn("record oom", "task", id, "err", err)
		return
	}
	if err := os.WriteFile(w.marker(id), []byte(time.Now().UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
		w.log.Warn("record oom", "task", id, "err", err)
	}
}

// run subscribes until ctx ends, resubscribing after errors.
func (w *oomWatcher) run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		err := w.subscribe(ctx, &first)
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("containerd event subscription ended; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (w *oomWatcher) subscribe(ctx context.Context, first *bool) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, errs := w.client.Subscribe(sctx, fmt.Sprintf(`namespace==%s,topic=="/tasks/oom"`, w.ns))
	if *first {
		*first = false
		close(w.ready)
	}
	for {
		select {
		case env := <-ch:
			if env == nil || env.Event == nil {
				continue
			}
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			if e, ok := v.(*apievents.TaskOOM); ok {
				w.log.Info("task out of memory", "container", e.ContainerID)
				w.record(e.ContainerID)
			}
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return err
		}
	}
}
