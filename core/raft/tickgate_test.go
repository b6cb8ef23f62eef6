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
