package gossip

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConvergence measures the time from Publish on one member until
// every member's table holds the entry (seen through Watch), with
// memberlist's LAN defaults, all members in this process on loopback.
// ns/op is the mean; p50-ms and max-ms are per publish; dropped/op counts
// entries dropped because a member was (wrongly) declared dead.
//
//	go test -run '^$' -bench Convergence -benchtime 20x ./core/gossip
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{3, 30, 200} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			benchConvergence(b, n)
		})
	}
}

func benchConvergence(b *testing.B, n int) {
	ms := newCluster(b, n, Timing{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan string, n)
	var removed atomic.Int64 // the bench never withdraws: a member was declared dead
	for _, m := range ms {
		go func(ch <-chan Change) {
			for c := range ch {
				if c.Kind == Removed {
					removed.Add(1)
					continue
				}
				seen <- c.Entry.TaskID
			}
		}(m.Watch(ctx))
	}
	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		task := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if err := ms[i%n].Publish(att(task, fmt.Sprintf("10.%d.%d.%d/8", i>>16&255, i>>8&255, i&255))); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; {
			select {
			case t := <-seen:
				if t == task {
					got++
				}
			case <-time.After(waitLong):
				b.Fatalf("%s reached %d of %d members in %s", task, got, n, waitLong)
			}
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(took[len(took)-1])/1e6, "max-ms")
	b.ReportMetric(float64(removed.Load())/float64(len(took)), "dropped/op")
}
