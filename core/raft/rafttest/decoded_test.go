package rafttest_test

import (
	"testing"

	"github.com/shoal-project/shoal/core/raft/rafttest"
)

// The leader applies its own proposal from the value it proposed it with;
// followers decode the bytes; all end with the same data.
func TestLeaderAppliesItsOwnEntryFromTheDecodedValue(t *testing.T) {
	c, ms := threeNodes(t, rafttest.ClusterOptions{})
	l := c.WaitLeader(wait)
	const n = 5
	for i := range n {
		p := rafttest.Set("k", string(rune('a'+i)))
		if err := l.Node.ProposeDecoded(ctxT(t), p, string(p)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged(l.Node.Status().Applied, wait)
	for _, m := range ms {
		got, want := m.KV.DecodedApplies(), 0
		if m == l {
			want = n
		}
		if got != want {
			t.Errorf("%s applied %d entries from the decoded value, want %d", m.NodeID, got, want)
		}
		if v, _ := m.KV.Get("k"); v != "e" {
			t.Errorf("%s: k = %q, want e", m.NodeID, v)
		}
		if v := m.KV.Violations(); len(v) > 0 {
			t.Errorf("%s: %v", m.NodeID, v)
		}
	}
}
