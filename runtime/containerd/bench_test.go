package containerd

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/runtime"
)

// BenchmarkStart20 starts 20 containers concurrently (image already pulled) and
// reports each one's Prepare+Start latency (create to running), in bridge mode (own
// netns, veth, address) and in host network mode.
func BenchmarkStart20(b *testing.B) {
	for _, mode := range []string{"bridge", "host"} {
		b.Run(mode, func(b *testing.B) { benchStart(b, mode, 20) })
	}
}

// BenchmarkStartOne is the uncontended create-to-running latency of one container.
func BenchmarkStartOne(b *testing.B) {
	for _, mode := range []string{"bridge", "host"} {
		b.Run(mode, func(b *testing.B) { benchStart(b, mode, 1) })
	}
}

func benchStart(b *testing.B, mode string, n int) {
	e := newEnv(b)
	be := e.backend()
	if _, err := be.image(ctxT(b), busybox()); err != nil { // warm: pull once
		b.Fatal(err)
	}
	var all []time.Duration
	b.ResetTimer()
	for i := range b.N {
		lat := make([]time.Duration, n)
		ctrls := make([]runtime.Controller, n)
		var wg sync.WaitGroup
		for j := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := spec(fmt.Sprintf("bench-%d-%d", i, j), "sleep", "600")
				s.NetworkMode = mode
				c, err := be.Controller(s)
				if err != nil {
					b.Error(err)
					return
				}
				ctrls[j] = c
				start := time.Now()
				if err := c.Prepare(ctxT(b)); err != nil {
					b.Error(err)
					return
				}
				if err := c.Start(ctxT(b)); err != nil {
					b.Error(err)
					return
				}
				lat[j] = time.Since(start)
			}()
		}
		wg.Wait()
		b.StopTimer()
		all = append(all, lat...)
		for _, c := range ctrls {
			if c == nil {
				continue
			}
			if err := c.Remove(ctxT(b)); err != nil {
				b.Error(err)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Milliseconds()), "median-ms/container")
	b.ReportMetric(float64(all[(len(all)*99)/100].Milliseconds()), "p99-ms/container")
}
