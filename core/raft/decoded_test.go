package raft

import (
	"testing"
)

type decodedSM struct{ StateMachine }

func (decodedSM) ApplyDecoded(uint64, []byte, any) error { return nil }

// ownDecoded hands the proposer's value over only for this member's waiting
// proposal with the very same bytes.
func TestOwnDecodedNeedsTheSameProposalAndBytes(t *testing.T) {
	n := &Node{id: 1, sm: decodedSM{}, proposals: proposals{}}
	n.proposals[7] = &proposal{payload: []byte("abc"), decoded: "value"}
	n.proposals[8] = &proposal{payload: []byte("abc")}
	cases := []struct {
		name          string
		origin, reqID uint64
		payload       string
		want          any
	}{
		{"own entry", 1, 7, "abc", "value"},
		{"another member's entry", 2, 7, "abc", nil},
		{"no waiter (an earlier run's request ID)", 1, 9, "abc", nil},
		{"same request ID, other bytes", 1, 7, "abd", nil},
		{"proposed without a value", 1, 8, "abc", nil},
	}
	for _, tc := range cases {
		if got := n.ownDecoded(tc.origin, tc.reqID, []byte(tc.payload)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	plain := &Node{id: 1, sm: nil, proposals: n.proposals}
	if got := plain.ownDecoded(1, 7, []byte("abc")); got != nil {
		t.Errorf("state machine without ApplyDecoded: %v", got)
	}
}
