//go:build linux

package overlay

import (
	"fmt"
	"testing"
)

// BenchmarkEnsureNetwork times setting up a new network's sandbox (netns,
// bridge, vxlan created in the host namespace and moved in); removal is not
// timed.
func BenchmarkEnsureNetwork(b *testing.B) {
	h1, _ := newTestbed(b)
	cfg := testNetwork()
	for i := 0; b.Loop(); i++ {
		cfg.ID = fmt.Sprintf("bench%d", i)
		if err := h1.m.EnsureNetwork(cfg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := h1.m.RemoveNetwork(cfg.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkAttach times giving a task its veth, address and MAC on a network
// that is already set up; Detach is not timed.
func BenchmarkAttach(b *testing.B) {
	h1, h2 := newTestbed(b)
	setUpBoth(b, h1) // keeps the sandbox alive between iterations
	ep := h2.endpoint()
	ep.NetnsPath = h2.taskPath()
	for i := 0; b.Loop(); i++ {
		ep.TaskID = fmt.Sprintf("bench%d", i)
		if err := h1.m.Attach(ep); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := h1.m.Detach(testNetID, ep.TaskID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
