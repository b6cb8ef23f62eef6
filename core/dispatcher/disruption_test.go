package dispatcher

import (
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/runtime/sim"
)

// guardDispatcher is a dispatcher (not running) tracking n nodes that
// heartbeated at start, with a 5 s period; downs counts DOWN markings.
func guardDispatcher(t *testing.T, n int, start time.Time) (*Dispatcher, *int) {
	t.Helper()
	clock := sim.NewManualClock(start)
	downs := new(int)
	d, err := New(store.NewLocal(), Config{
		HeartbeatPeriod: 5 * time.Second, Clock: manualClock{clock},
		NodeDown: func(bool) { *downs++ },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.running = true
	for i := range n {
		d.nodes[fmt.Sprintf("n%03d", i)] = &nodeEntry{deadline: start.Add(15 * time.Second), lastBeat: start}
	}
	return d, downs
}

// silence makes nodes [0, k) of d miss their heartbeats since start.
func silence(d *Dispatcher, k int, start time.Time) {
	for i := range k {
		e := d.nodes[fmt.Sprintf("n%03d", i)]
		e.deadline, e.lastBeat = start.Add(-time.Second), start.Add(-16*time.Second+time.Duration(i)*time.Millisecond)
	}
}

// Small clusters DOWN every expired node at once; a large one at most a
// hundredth of its nodes (at least 5) per period, and one per period when
// more than DisruptionThreshold of them are unhealthy at once.
func TestDisruptionGuardDownsSlowlyOnlyWhenManyFailAtOnce(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name            string
		nodes, silent   int
		wantFirst       int // DOWN at the first scan
		wantAfterPeriod int // DOWN after one more period
		wantDisrupted   bool
	}{
		{"small cluster: all at once", 3, 3, 3, 3, false},
		{"small cluster below the size: all at once", 49, 20, 20, 20, false},
		{"large cluster, few fail: at most 5 per period", 100, 10, 5, 10, false},
		{"large cluster, 7 % fail: a hundredth per period", 2400, 170, 24, 48, false},
		{"large cluster, many fail: one per period", 100, 11, 1, 2, true},
		{"large cluster, all fail: one per period", 2400, 2400, 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, downs := guardDispatcher(t, tc.nodes, start)
			silence(d, tc.silent, start)
			d.scan(start)
			if *downs != tc.wantFirst {
				t.Fatalf("first scan: %d DOWN, want %d", *downs, tc.wantFirst)
			}
			if got := d.Disruption().Disrupted; got != tc.wantDisrupted {
				t.Fatalf("disrupted = %v, want %v", got, tc.wantDisrupted)
			}
			d.scan(start.Add(time.Second)) // within the period: nothing more
			if *downs != tc.wantFirst {
				t.Fatalf("scan 1 s later: %d DOWN, want %d", *downs, tc.wantFirst)
			}
			d.scan(start.Add(5 * time.Second))
			if *downs != tc.wantAfterPeriod {
				t.Fatalf("scan a period later: %d DOWN, want %d", *downs, tc.wantAfterPeriod)
			}
		})
	}
}

func TestDisruptionGuardDownsTheLongestSilentFirst(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d, _ := guardDispatcher(t, 100, start)
	silence(d, 20, start)
	d.nodes["n013"].lastBeat = start.Add(-time.Hour)
	d.scan(start)
	if _, ok := d.nodes["n013"]; ok {
		t.Fatal("n013, silent the longest, was not the one marked DOWN")
	}
	if st := d.Disruption(); st.Held != 19 || st.Unhealthy != 20 || st.Total != 100 {
		t.Fatalf("stats %+v, want 19 held, 20 unhealthy of 100", st)
	}
}

func TestDisruptionGuardEndsWhenTheNodesComeBack(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d, downs := guardDispatcher(t, 100, start)
	silence(d, 30, start)
	d.scan(start)
	// The held nodes heartbeat again, all but two, as do the others.
	for i := range 100 {
		if e := d.nodes[fmt.Sprintf("n%03d", i)]; e != nil && i != 28 && i != 29 {
			e.deadline, e.lastBeat = start.Add(20*time.Second), start.Add(5*time.Second)
		}
	}
	// After a grace the first DOWN no longer counts: 2 of 100 unhealthy.
	d.scan(start.Add(16 * time.Second))
	if d.Disruption().Disrupted {
		t.Fatalf("still disrupted: %+v", d.Disruption())
	}
	if *downs != 3 {
		t.Fatalf("%d DOWN, want 3 (the first, then both still silent at once)", *downs)
	}
}

func TestDisruptionGuardLetsGoAtHalfTheThreshold(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d, downs := guardDispatcher(t, 100, start)
	silence(d, 30, start)
	d.scan(start)
	// All but 8 come back: 8% unhealthy, under the 10% threshold, over
	// half of it. The guard still holds them: one more DOWN a period on.
	for i := 8; i < 100; i++ {
		if e := d.nodes[fmt.Sprintf("n%03d", i)]; e != nil {
			e.deadline, e.lastBeat = start.Add(time.Hour), start.Add(time.Second)
		}
	}
	d.scan(start.Add(16 * time.Second))
	if !d.Disruption().Disrupted || *downs != 2 {
		t.Fatalf("at 8%% unhealthy: %+v, %d DOWN; want still disrupted, 2 DOWN", d.Disruption(), *downs)
	}
	// 3 left, and the DOWN of a second ago: 4 of 99, under 5%: the guard
	// lets go and the 3 are DOWN at once.
	for i := 0; i < 5; i++ {
		if e := d.nodes[fmt.Sprintf("n%03d", i)]; e != nil {
			e.deadline, e.lastBeat = start.Add(time.Hour), start.Add(time.Second)
		}
	}
	d.scan(start.Add(17 * time.Second))
	if d.Disruption().Disrupted || *downs != 2+3 {
		t.Fatalf("at 4 of 99 unhealthy: %+v, %d DOWN; want not disrupted, 5 DOWN", d.Disruption(), *downs)
	}
}

func TestHeldNodesHeartbeatIsAccepted(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second, DisruptionMinNodes: 10})
	sess := make(map[string]string)
	for i := range 10 {
		id := fmt.Sprintf("n%d", i)
		first, _ := h.openSession(h.client(id), id, Version)
		sess[id] = first.GetSessionId()
	}
	h.clock.Advance(16 * time.Second) // every session expired at once
	h.eventually("the guard holds the expired nodes", func() bool {
		st := h.d.Disruption()
		return st.Disrupted && st.Held == 9
	})
	h.d.mu.Lock()
	var held string
	for id, e := range h.d.nodes {
		if e.held {
			held = id
		}
	}
	h.d.mu.Unlock()
	_, err := h.client(held).Heartbeat(h.ctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: sess[held]}))
	if err != nil {
		t.Fatalf("heartbeat of the held node %s: %v, want accepted", held, err)
	}
	if s := h.nodeState(held); s != ready {
		t.Fatalf("held node %s is %v, want READY", held, s)
	}
}

func TestDownsHeldCountsEachNodeOnce(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d, _ := guardDispatcher(t, 100, start)
	held := 0
	d.cfg.DownsHeld = func(n int) { held += n }
	silence(d, 20, start)
	d.scan(start)
	d.scan(start.Add(time.Second))
	d.scan(start.Add(2 * time.Second))
	if held != 19 {
		t.Fatalf("DownsHeld counted %d over three scans, want 19 (each held node once)", held)
	}
}
