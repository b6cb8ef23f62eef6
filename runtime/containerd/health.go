package containerd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/shoal-project/shoal/runtime"
)

const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	healthOutputMax       = 512
)

func healthEnabled(h *runtime.Healthcheck) bool {
	return h != nil && len(h.Test) > 0 && !(len(h.Test) == 1 && strings.EqualFold(h.Test[0], "NONE"))
}

// healthArgv accepts docker's forms: ["CMD", argv...], ["CMD-SHELL", "script"], or a plain argv.
func healthArgv(test []string) ([]string, error) {
	switch {
	case len(test) == 0:
		return nil, invalid("empty health check test")
	case test[0] == "CMD":
		if len(test) < 2 {
			return nil, invalid("health check CMD without a command")
		}
		return test[1:], nil
	case test[0] == "CMD-SHELL":
		if len(test) != 2 {
			return nil, invalid("health check CMD-SHELL takes exactly one script, got %d", len(test)-1)
		}
		return []string{"/bin/sh", "-c", test[1]}, nil
	default:
		return test, nil
	}
}

// capped keeps the first healthOutputMax bytes written to it.
type capped struct {
	mu  sync.Mutex
	buf []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := healthOutputMax - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(string(c.buf))
}

var execSeq atomic.Uint64

// probe runs the health check once inside the task; nil means healthy.
func probe(ctx context.Context, ctr client.Container, task client.Task, argv []string, timeout time.Duration) error {
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	pspec := *spec.Process
	pspec.Args = argv
	pspec.Terminal = false
	out := &capped{}
	id := fmt.Sprintf("health-%d-%d", time.Now().UnixNano(), execSeq.Add(1))
	proc, err := task.Exec(ctx, id, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = proc.Delete(dctx, client.WithProcessKill)
	}()
	exitCh, err := proc.Wait(ctx)
	if err != nil {
		return fmt.Errorf("exec wait: %w", err)
	}
	if err := proc.Start(ctx); err != nil {
		return fmt.Errorf("exec start: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case st := <-exitCh:
		if io := proc.IO(); io != nil {
			io.Wait()
		}
		code, _, err := st.Result()
		if err != nil {
			return err
		}
		if code != 0 {
			if o := out.String(); o != "" {
				return fmt.Errorf("exit %d: %s", code, o)
			}
			return fmt.Errorf("exit %d", code)
		}
		return nil
	case <-timer.C:
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return fmt.Errorf("timed out after %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// monitorHealth probes until ctx ends or Retries consecutive probes fail, in which case
// it returns the last failure. startedAt anchors the start period.
func monitorHealth(ctx context.Context, ctr client.Container, task client.Task, h *runtime.Healthcheck, startedAt time.Time, now func() time.Time) error {
	argv, err := healthArgv(h.Test)
	if err != nil {
		return err
	}
	interval, timeout, retries := h.Interval, h.Timeout, h.Retries
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	if timeout <= 0 {
		timeout = defaultHealthTimeout
	}
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	failures := 0
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		perr := probe(ctx, ctr, task, argv, timeout)
		if ctx.Err() != nil {
			return nil
		}
		inStart := h.StartPeriod > 0 && now().Sub(startedAt) < h.StartPeriod
		switch {
		case perr == nil:
			failures = 0
		case inStart:
			// failures during the start period do not count
		default:
			failures++
			if failures >= retries {
				return perr
			}
		}
		timer.Reset(interval)
	}
}

var errUnhealthy = errors.New("health check failed")
