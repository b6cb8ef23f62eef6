package lb_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/shoal-project/shoal/network/internal/testnetns"
	"github.com/shoal-project/shoal/network/lb"
)

// BenchmarkSync measures one whole-table replacement: 10 VIPs of one TCP port each,
// with 1 or 100 backends per VIP, one backend changing between two Syncs.
func BenchmarkSync(b *testing.B) {
	ns := testnetns.New(b, "lb-bench")
	bal, err := lb.Open(ns.Path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bal.Close() })
	for _, backends := range []int{1, 100} {
		sets := [2][]lb.Service{benchServices(10, backends), benchServices(10, backends)}
		sets[1][0].Backends[0] = netip.MustParseAddr("10.213.93.1")
		b.Run(fmt.Sprintf("backends=%d", backends), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if err := bal.Sync(sets[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchServices(n, backends int) []lb.Service {
	services := make([]lb.Service, n)
	for i := range services {
		s := lb.Service{
			Name:  fmt.Sprintf("svc%d", i),
			VIP:   netip.AddrFrom4([4]byte{10, 213, 91, byte(i + 1)}),
			Ports: []lb.Port{{Protocol: lb.TCP, Port: 80}},
		}
		for j := range backends {
			s.Backends = append(s.Backends, netip.AddrFrom4([4]byte{10, 213, 92, byte(j + 1)}))
		}
		services[i] = s
	}
	return services
}
