package orchestrator

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/poll"
)

func TestRunTellsTheReconcileObserverOfEachPass(t *testing.T) {
	var passes atomic.Int64
	h := newHarness(t, WithReconcileObserver(func(took time.Duration, err error) {
		if err != nil || took < 0 {
			t.Errorf("reconcile observed with err %v, took %v", err, took)
		}
		passes.Add(1)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h.createService(replicated("s", 3, nil))
	poll.Until(t, "3 tasks and an observed pass", func() bool { return len(h.tasks("s")) == 3 && passes.Load() >= 1 })
}
