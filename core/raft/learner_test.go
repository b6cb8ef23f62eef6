package raft

import "testing"

func TestCaughtUp(t *testing.T) {
	tests := []struct {
		name   string
		p      learnerProgress
		commit uint64
		lag    uint64
		want   bool
	}{
		{"at the commit index", learnerProgress{match: 100, replicate: true, reachable: true}, 100, 10, true},
		{"within the lag", learnerProgress{match: 90, replicate: true, reachable: true}, 100, 10, true},
		{"one past the lag", learnerProgress{match: 89, replicate: true, reachable: true}, 100, 10, false},
		{"unreachable", learnerProgress{match: 100, replicate: true}, 100, 10, false},
		{"still probing or receiving a snapshot", learnerProgress{match: 100, reachable: true}, 100, 10, false},
		{"never acknowledged, young log", learnerProgress{replicate: true, reachable: true}, 3, 10, false},
		{"ahead of a stale commit", learnerProgress{match: 105, replicate: true, reachable: true}, 100, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := caughtUp(tc.p, tc.commit, tc.lag); got != tc.want {
				t.Fatalf("caughtUp(%+v, %d, %d) = %v, want %v", tc.p, tc.commit, tc.lag, got, tc.want)
			}
		})
	}
}

func TestQuorumAfterPromotion(t *testing.T) {
	tests := []struct {
		voters, reachable int
		want              bool
	}{
		{1, 1, true},  // 2 vote after: leader + learner
		{2, 1, true},  // 3 vote after, 2 needed: leader + learner
		{2, 0, false}, // (the leader always counts itself; defensive)
		{3, 2, true},  // 4 vote after, 3 needed
		{3, 1, false}, // 4 vote after, only 2
		{4, 2, true},  // 5 vote after, 3 needed
		{4, 1, false},
		{5, 3, true}, // 6 vote after, 4 needed
		{5, 2, false},
	}
	for _, tc := range tests {
		if got := quorumAfterPromotion(tc.voters, tc.reachable); got != tc.want {
			t.Errorf("quorumAfterPromotion(%d voters, %d reachable) = %v, want %v", tc.voters, tc.reachable, got, tc.want)
		}
	}
}
