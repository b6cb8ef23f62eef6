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
