package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestRunTellsThePassObserverWhatEachPassPlaced(t *testing.T) {
	var mu sync.Mutex
	assigned, passes := 0, 0
	observe := func(st PassStats, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil || took < 0 {
			t.Errorf("pass observed with err %v, took %v", err, took)
		}
		assigned += st.Assigned
		passes++
	}
	h := newHarness(t, WithPassObserver(observe), WithDebounce(10*time.Millisecond))
	h.addNode("a", 4*cpu, 8*gib)
	h.addService("s", 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		a, p := assigned, passes
		mu.Unlock()
		if a == 3 && p >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("observer saw %d tasks assigned in %d passes, want 3", a, p)
		}
		time.Sleep(5 * time.Millisecond)
		h.clk.Advance(10 * time.Millisecond)
	}
}
