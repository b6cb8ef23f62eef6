package orchestrator

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/poll"
)

// A pass that took long delays the next one (its events are collected into
// it) by paceFactor times its length, at most maxPace; quick passes are not
// delayed.
func TestSlowPassPacesTheNext(t *testing.T) {
	var passes atomic.Int64
	var slow atomic.Bool
	var h *harness
	h = newHarness(t, WithReconcileObserver(func(time.Duration, error) {
		if slow.Load() {
			h.clk.Advance(time.Second) // this pass "took" 1 s
		}
		passes.Add(1)
	}))
	h.addNode("n1", nodeUp, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.o.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Quick passes follow one another at once.
	h.createService(replicated("a", 1, nil))
	poll.Until(t, "a's task", func() bool { return len(h.tasks("a")) == 1 })
	h.createService(replicated("b", 1, nil))
	poll.Until(t, "b's task without the clock moving", func() bool { return len(h.tasks("b")) == 1 })

	slow.Store(true)
	h.createService(replicated("c", 1, nil))
	poll.Until(t, "c's task", func() bool { return len(h.tasks("c")) == 1 })
	slow.Store(false)
	h.createService(replicated("d", 1, nil))
	time.Sleep(200 * time.Millisecond)
	if n := len(h.tasks("d")); n != 0 {
		t.Fatalf("d has %d tasks right after a 1 s pass; want the next pass paced", n)
	}
	h.clk.Advance(maxPace - time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	if n := len(h.tasks("d")); n != 0 {
		t.Fatalf("d has %d tasks before the pace (%v) ended", n, maxPace)
	}
	h.clk.Advance(time.Millisecond)
	poll.Until(t, "d's task once the pace ended", func() bool { return len(h.tasks("d")) == 1 })
}
