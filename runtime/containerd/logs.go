package containerd

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-project/shoal/runtime"
	"github.com/shoal-project/shoal/runtime/logfile"
)

// Task output is recorded by the task's logger (logger.go): this binary, started by
// the containerd shim through containerd's binary logging, so it keeps recording
// while the agent is down. It writes runtime/logfile records into
// <StateDir>/tasks/<id>/task.log:
//
//	<RFC 3339 UTC time, nanoseconds> <stdout|stderr> <line>
//
// stamped when the logger read the line from the task's pipe, one record per line
// (lines over 16 KiB cut). The logger rotates the file itself once it would pass
// Config.LogMaxBytes (task.log -> task.log.1 -> ... -> task.log.<LogKeep>, the
// oldest dropped). Logs reads the records back with logfile.Stream, so LogLine.Time
// is when the line was written and LogLine.Stream the stream it was written to.
//
// Tasks created by an agent from before binary logging wrote raw lines into task.log
// (cio.LogFile); those lines are not records and Logs skips them.

const (
	// logPoll is how often a followed log is checked for new records.
	logPoll = 200 * time.Millisecond
	// drainTimeout bounds the wait for an exited task's logger to record its last lines.
	drainTimeout = 10 * time.Second
)

func (b *Backend) logSet(id string) logfile.Set {
	return logfile.Set{Dir: b.taskDir(id), Name: logName, Keep: b.cfg.LogKeep}
}

// Logs sends the task's output; with Follow it keeps sending until ctx ends or the
// task has exited and everything it wrote was sent.
func (c *controller) Logs(ctx context.Context, opts runtime.LogOptions, out chan<- runtime.LogLine) error {
	nctx := c.ns(ctx)
	if _, err := c.container(nctx); err != nil {
		return err
	}
	// exited reports whether the task is done writing: it has exited (or is gone) and
	// its logger has recorded everything it wrote.
	exited := func() bool {
		st, err := c.Inspect(nctx)
		if err != nil {
			return true
		}
		if st.State != "exited" {
			return false
		}
		if err := drainLogger(ctx, c.b.taskDir(c.id), drainTimeout); err != nil {
			c.b.log.Warn("task logger did not drain; the last lines may be missing", "task", c.id, "err", err)
		}
		return true
	}
	if !opts.Follow {
		exited() // an exited task's last lines may still be in its pipes
	}
	err := logfile.Stream(ctx, c.b.logSet(c.id), opts, out, exited, logPoll)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil // no state directory: nothing was recorded
	}
	return err
}
