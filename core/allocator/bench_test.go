package allocator

import (
	"fmt"
	"testing"
)

// BenchmarkPassAddresses is one pass giving each of n NEW tasks an address
// on a /16 network (native policy), the store counting what is in use.
func BenchmarkPassAddresses(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				h := newHarness(b)
				h.addNetwork("n1", "10.1.0.0/16", "10.1.0.1")
				h.addService("s", n, []string{"n1"})
				b.StartTimer()
				if st := h.pass(); st.Allocated != n {
					b.Fatalf("stats %+v", st)
				}
			}
		})
	}
}
