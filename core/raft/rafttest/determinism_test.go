package rafttest_test

import (
	"strings"
	"testing"

	"github.com/shoal-project/shoal/core/raft/rafttest"
)

// traceOf runs a fixed scenario (joins, writes under drops and delays, a
// heal) driven by seed alone and returns the harness's trace.
func traceOf(t *testing.T, seed uint64) []string {
	t.Helper()
	t.Setenv(rafttest.SeedEnv, "") // the seed under test, not an override
	c, _ := threeNodes(t, rafttest.ClusterOptions{Seed: seed, Manual: true, Trace: true})
	proposeN(t, c, "k", 5)
	c.Net.SetDropRate(0.2)
	c.Net.SetDelay(3)
	proposeN(t, c, "lossy", 10)
	c.Net.Heal()
	c.WaitConverged(0, wait)
	tr := c.Net.Trace()
	c.Close()
	return tr
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func TestSameSeedReplaysSameTrace(t *testing.T) {
	a, b := traceOf(t, 42), traceOf(t, 42)
	if i := firstDiff(a, b); i >= 0 {
		at := func(tr []string) string {
			if i < len(tr) {
				return tr[i]
			}
			return "(end)"
		}
		from := max(0, i-5)
		t.Fatalf("seed 42 ran twice: traces of %d and %d lines differ at line %d: %q vs %q; lines before:\n%s",
			len(a), len(b), i, at(a), at(b), strings.Join(a[from:i], "\n"))
	}
	if len(a) < 100 {
		t.Fatalf("trace of %d lines: the scenario did not run", len(a))
	}
	t.Logf("seed 42 replayed %d trace lines exactly", len(a))
	if c := traceOf(t, 43); firstDiff(a, c) < 0 {
		t.Fatal("seeds 42 and 43 gave the same trace")
	}
}
