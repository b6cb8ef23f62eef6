package dispatcher

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// An open session hears about managers that joined after it opened.
func TestSessionTellsAgentWhenManagersChange(t *testing.T) {
	var mu sync.Mutex
	managers := []string{"10.0.0.1:4242"}
	h := newHarness(t, Config{
		HeartbeatPeriod: 10 * time.Second,
		Managers: func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(managers)
		},
	})
	first, stream := h.openSession(h.client("n1"), "n1", Version)
	if !slices.Equal(first.GetManagers(), []string{"10.0.0.1:4242"}) {
		t.Fatalf("first message managers = %v", first.GetManagers())
	}
	mu.Lock()
	managers = append(managers, "10.0.0.2:4242")
	mu.Unlock()
	got := make(chan []string, 1)
	go func() {
		for stream.Receive() {
			if m := stream.Msg().GetManagers(); len(m) > 0 {
				got <- m
				return
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.clock.Advance(10 * time.Second)
		select {
		case m := <-got:
			if !slices.Equal(m, []string{"10.0.0.1:4242", "10.0.0.2:4242"}) {
				t.Fatalf("updated managers = %v", m)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never sent the new manager list")
		}
	}
}
