package raft

import (
	"errors"
	"testing"
)

func TestTransferOutcome(t *testing.T) {
	const self, to, other = 1, 2, 3
	tests := []struct {
		name     string
		view     transferView
		wantDone bool
		wantErr  error
	}{
		{"still in progress", transferView{leader: true, lead: self, transferee: to, ticks: 5}, false, nil},
		{"target took over", transferView{lead: to, ticks: 5}, true, nil},
		{"another member took over", transferView{lead: other, ticks: 5}, true, nil},
		{"raft aborted it, still leader", transferView{leader: true, lead: self, ticks: 10}, true, ErrTransferAborted},
		{"stepped down, election under way", transferView{ticks: 15}, false, nil},
		{"stepped down, no leader after the limit", transferView{ticks: 21}, true, ErrTransferAborted},
		{"leader again after stepping down", transferView{leader: true, lead: self, ticks: 12}, true, ErrTransferAborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := transferTracker{}
			tr.begin(to, 0, false, make(chan error, 1))
			tt.view.self, tt.view.limit = self, 20
			done, err := tr.outcome(tt.view)
			if done != tt.wantDone || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("outcome = %v, %v; want %v, %v", done, err, tt.wantDone, tt.wantErr)
			}
		})
	}
}

func TestTransferToAnotherTargetSupersedesPending(t *testing.T) {
	tr := transferTracker{}
	first, second := make(chan error, 1), make(chan error, 1)
	tr.begin(2, 0, false, first)
	tr.begin(3, 4, false, second)
	if err := <-first; !errors.Is(err, ErrTransferAborted) {
		t.Fatalf("superseded transfer: %v", err)
	}
	if tr.to != 3 || tr.start != 4 || len(tr.waiters) != 1 {
		t.Fatalf("tracker after the second transfer: %+v", tr)
	}
	tr.finish(nil)
	if err := <-second; err != nil || tr.pending() {
		t.Fatalf("finish: %v, pending %v", err, tr.pending())
	}
}
