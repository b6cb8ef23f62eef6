package rafttest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/shoal-project/shoal/core/raft/rafttest"
)

// BenchmarkProposeSingleNode measures commit+apply latency of one proposal
// at a time on a single member (one bbolt fsync per entry).
func BenchmarkProposeSingleNode(b *testing.B) {
	c := rafttest.NewCluster(b, rafttest.ClusterOptions{})
	m := c.Bootstrap(1)
	c.WaitLeader(wait)
	payload := rafttest.Set("k", string(make([]byte, 1024)))
	b.ResetTimer()
	for range b.N {
		if err := m.Node.Propose(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProposeParallel3Nodes measures throughput with 16 concurrent
// proposers on a 3-member in-memory cluster (entries batch per fsync).
func BenchmarkProposeParallel3Nodes(b *testing.B) {
	c := rafttest.NewCluster(b, rafttest.ClusterOptions{Seed: 9})
	c.Bootstrap(1)
	c.WaitLeader(wait)
	c.Join("n2")
	c.Join("n3")
	l := c.WaitLeader(wait)
	payload := rafttest.Set("k", string(make([]byte, 1024)))
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/16 + 1
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := l.Node.Propose(context.Background(), payload); err != nil {
					b.Error(fmt.Sprint(g, i, err))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkLogHeldAfter64MiB proposes 64 MiB of 32 KiB entries to a single
// member whose state machine is a SnapshotCapturer and reports the bytes
// of entries it still holds since its last snapshot (all of them in memory
// until a snapshot compacts the log): bounded by SnapshotBytes (16 MiB),
// where a snapshot every SnapshotInterval entries alone held all 64 MiB.
func BenchmarkLogHeldAfter64MiB(b *testing.B) {
	const size, total = 32 << 10, 64 << 20
	for range b.N {
		c := rafttest.NewCluster(b, rafttest.ClusterOptions{Capturing: true})
		m := c.Bootstrap(1)
		c.WaitLeader(wait)
		payload := rafttest.Set("k", string(make([]byte, size)))
		for range total / size {
			if err := m.Node.Propose(context.Background(), payload); err != nil {
				b.Fatal(err)
			}
		}
		c.WaitConverged(0, wait)
		st := m.Node.Status()
		b.ReportMetric(float64((st.Applied-st.SnapshotIndex)*size)/(1<<20), "MiB-since-snapshot")
		c.Close()
	}
}
