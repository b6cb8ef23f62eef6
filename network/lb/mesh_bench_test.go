package lb_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/shoal-project/shoal/network/internal/testnetns"
	"github.com/shoal-project/shoal/network/lb"
)

// BenchmarkMeshSync measures one reprogramming of a node's published ports
// (what every node does when a task of an ingress service starts or stops):
// 10 services of one TCP and one UDP port, 2 or 100 tasks each, one task
// changing between two Syncs.
func BenchmarkMeshSync(b *testing.B) {
	ns := testnetns.New(b, "ports-mesh-bench")
	m := lb.OpenMesh(ns.Path, nil)
	b.Cleanup(func() { _ = m.Close() })
	for _, tasks := range []int{2, 100} {
		sets := [2][]lb.Published{benchPublished(10, tasks), benchPublished(10, tasks)}
		sets[1][0].Backends[0] = netip.MustParseAddr("10.255.200.1")
		b.Run(fmt.Sprintf("tasks=%d", tasks), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if err := m.Sync("shoal-ingress", sets[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchPublished(n, tasks int) []lb.Published {
	out := make([]lb.Published, n)
	for i := range out {
		p := lb.Published{Name: fmt.Sprintf("svc%d", i), Ports: []lb.Port{
			{Protocol: lb.TCP, Port: uint16(8000 + i), TargetPort: 80}, {Protocol: lb.UDP, Port: uint16(8000 + i), TargetPort: 53}}}
		for j := range tasks {
			p.Backends = append(p.Backends, netip.AddrFrom4([4]byte{10, 255, byte(i + 1), byte(j + 2)}))
		}
		out[i] = p
	}
	return out
}
