package raft

import (
	"testing"
	"time"
)

func TestTickGateIgnoresLateTicks(t *testing.T) {
	const iv = 100 * time.Millisecond
	base := time.Unix(1000, 0)
	// Each case is the gaps between ticks after a first on-time tick.
	tests := []struct {
		name string
		gaps []time.Duration
		want []bool
	}{
		{"on time counts", []time.Duration{iv, iv, iv}, []bool{true, true, true}},
		{"slightly late counts", []time.Duration{iv + iv/2}, []bool{true}},
		{"a stall is not counted", []time.Duration{iv, 5 * iv, iv}, []bool{true, false, true}},
		{"sustained starvation still counts one tick in four",
			[]time.Duration{3 * iv, 3 * iv, 3 * iv, 3 * iv, 3 * iv}, []bool{false, false, false, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var lateness []time.Duration
			g := tickGate{interval: iv, observe: func(d time.Duration) { lateness = append(lateness, d) }}
			at := base
			if !g.admit(at) {
				t.Fatal("the first tick was not counted")
			}
			for i, gap := range tc.gaps {
				at = at.Add(gap)
				if got := g.admit(at); got != tc.want[i] {
					t.Errorf("tick %d after %s: counted %v, want %v", i+1, gap, got, tc.want[i])
				}
				if want := max(gap-iv, 0); lateness[i] != want {
					t.Errorf("tick %d: lateness %s, want %s", i+1, lateness[i], want)
				}
			}
		})
	}
}

func TestTickGateCountsHandDrivenTicks(t *testing.T) {
	g := tickGate{interval: time.Second}
	for i := range 10 {
		if !g.admit(time.Time{}) {
			t.Fatalf("hand-driven tick %d not counted", i)
		}
	}
}

// TestBusyBeatBounds shows when the busy beat sends: only in a leader's
// Ready, once the loop has been in it an interval, once per interval, and
// no longer after maxBusy while persisting or maxApply while applying (a
// wedged leader must still be replaced).
func TestBusyBeatBounds(t *testing.T) {
	const iv = 100 * time.Millisecond
	t0 := time.Unix(1000, 0)
	b := busyBeat{id: 1, interval: iv, maxBusy: 2 * time.Second, maxApply: 10 * time.Second}
	if m := b.due(t0.Add(time.Second)); m != nil {
		t.Fatalf("idle loop: %v", m)
	}
	b.enter(t0, 0, []uint64{2, 3})
	if m := b.due(t0.Add(time.Second)); m != nil {
		t.Fatalf("follower's Ready: %v", m)
	}
	b.enter(t0, 7, []uint64{2, 3})
	if m := b.due(t0.Add(iv / 2)); m != nil {
		t.Fatalf("Ready under an interval old: %v", m)
	}
	m := b.due(t0.Add(iv))
	if len(m) != 2 || m[0].GetTerm() != 7 || m[0].GetCommit() != 0 || m[1].GetTo() != 3 || m[0].GetFrom() != 1 {
		t.Fatalf("busy leader's round: %v", m)
	}
	if m := b.due(t0.Add(iv + iv/2)); m != nil {
		t.Fatalf("second round within an interval: %v", m)
	}
	if m := b.due(t0.Add(2 * iv)); len(m) != 2 {
		t.Fatalf("next round: %v", m)
	}
	if m := b.due(t0.Add(2 * time.Second)); m != nil {
		t.Fatalf("after maxBusy: %v", m)
	}
	b.apply()
	if m := b.due(t0.Add(5 * time.Second)); len(m) != 2 {
		t.Fatalf("applying, past maxBusy: %v", m)
	}
	if m := b.due(t0.Add(10 * time.Second)); m != nil {
		t.Fatalf("after maxApply: %v", m)
	}
	b.enter(t0.Add(11*time.Second), 7, []uint64{2, 3})
	if m := b.due(t0.Add(13 * time.Second)); m != nil {
		t.Fatalf("a new Ready, persisting, after maxBusy: %v", m)
	}
	b.leave()
	if m := b.due(t0.Add(3 * iv)); m != nil {
		t.Fatalf("after the Ready: %v", m)
	}
}
