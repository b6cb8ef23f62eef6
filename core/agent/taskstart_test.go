package agent

import (
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/dispatcher"
	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/runtime/sim"
)

func TestTaskStartedIsToldHowLongEachBackendStartTook(t *testing.T) {
	var mu sync.Mutex
	var took []time.Duration
	m := newManager(t, dispatcher.Config{})
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := simBackend(t, clock, sim.Config{StartLatency: 2 * time.Second})
	autoAdvance(t, clock, 10*time.Millisecond)
	cl := newClients(t, "n1", map[string]string{"m1": m.srv.URL})
	startAgent(t, Config{NodeID: "n1", Managers: []string{"m1"}, Client: cl.client, Backend: b, StateDir: t.TempDir(), Clock: agentClock{clock},
		TaskStarted: func(d time.Duration, err error) {
			if err != nil {
				t.Errorf("start failed: %v", err)
			}
			mu.Lock()
			took = append(took, d)
			mu.Unlock()
		}})
	m.create(t, processTask("t1", "n1", "sleep", "60"))
	m.create(t, processTask("t2", "n1", "sleep", "60"))
	poll.Until(t, "both RUNNING", func() bool { return m.state("t1") == stRunning && m.state("t2") == stRunning })
	mu.Lock()
	defer mu.Unlock()
	if len(took) != 2 {
		t.Fatalf("TaskStarted told of %d starts, want 2", len(took))
	}
	for _, d := range took {
		if d < 2*time.Second {
			t.Fatalf("a start took %v by the agent's clock, want >= the backend's 2s latency", d)
		}
	}
}
