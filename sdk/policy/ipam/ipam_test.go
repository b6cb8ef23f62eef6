package ipam_test

import (
	"fmt"
	"net/netip"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/ipam"
)

func TestNeverDuplicates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bits := rapid.IntRange(24, 30).Draw(t, "bits")
		prefix := netip.MustParsePrefix(fmt.Sprintf("10.1.0.0/%d", bits))
		size := 1 << (32 - bits)
		var allocated []string
		a := prefix.Addr()
		for i := 0; i < size; i++ {
			if rapid.Float64Range(0, 1).Draw(t, "taken") < 0.3 {
				allocated = append(allocated, a.String())
			}
			a = a.Next()
		}
		nreq := rapid.IntRange(0, size+2).Draw(t, "requests")
		req := &sdk.AllocateRequest{
			Networks: []sdk.Network{{ID: "net", Subnet: prefix.String(), Gateway: prefix.Addr().Next().String(), Allocated: allocated}},
		}
		for i := 0; i < nreq; i++ {
			req.Addresses = append(req.Addresses, sdk.AddressRequest{ID: fmt.Sprint(i), NetworkID: "net"})
		}
		nports := rapid.IntRange(0, 50).Draw(t, "ports")
		for i := 0; i < nports; i++ {
			req.Ports = append(req.Ports, sdk.PortRequest{ID: fmt.Sprint(i), Protocol: rapid.SampledFrom([]string{"tcp", "udp"}).Draw(t, "proto")})
		}
		req.UsedPorts = []sdk.UsedPort{{Protocol: "tcp", Port: 30001}, {Protocol: "udp", Port: 30000}}
		req.PortRangeStart, req.PortRangeEnd = 30000, 30020

		resp := ipam.Allocate(req)
		seen := map[string]bool{}
		for _, s := range allocated {
			seen[s] = true
		}
		seen[prefix.Addr().Next().String()] = true
		for _, r := range resp.Addresses {
			if r.Code != sdk.AllocOK {
				if r.Code != sdk.AllocPoolExhausted {
					t.Fatalf("code %v", r.Code)
				}
				continue
			}
			p := netip.MustParsePrefix(r.Address)
			addr := p.Addr()
			broadcast := netip.MustParsePrefix(fmt.Sprintf("10.1.0.0/%d", bits)).Addr()
			for i := 0; i < size-1; i++ {
				broadcast = broadcast.Next()
			}
			if !prefix.Contains(addr) || addr == prefix.Addr() || addr == broadcast {
				t.Fatalf("address %s is not a usable address of %s", addr, prefix)
			}
			if seen[addr.String()] {
				t.Fatalf("duplicate or taken address %s", addr)
			}
			seen[addr.String()] = true
		}
		ports := map[string]bool{"tcp/30001": true, "udp/30000": true}
		for i, r := range resp.Ports {
			if r.Code != sdk.AllocOK {
				continue
			}
			k := fmt.Sprintf("%s/%d", req.Ports[i].Protocol, r.Port)
			if ports[k] || r.Port < 30000 || r.Port > 30020 {
				t.Fatalf("bad port %s", k)
			}
			ports[k] = true
		}
	})
}

func TestSkipsNetworkGatewayBroadcastAndReusesFreed(t *testing.T) {
	req := &sdk.AllocateRequest{
		Networks:  []sdk.Network{{ID: "n", Subnet: "10.0.0.0/29", Gateway: "10.0.0.1", Allocated: []string{"10.0.0.2", "10.0.0.4"}}},
		Addresses: []sdk.AddressRequest{{ID: "a", NetworkID: "n"}, {ID: "b", NetworkID: "n"}, {ID: "c", NetworkID: "n"}, {ID: "d", NetworkID: "n"}, {ID: "e", NetworkID: "n"}, {ID: "f", NetworkID: "x"}},
	}
	resp := ipam.Allocate(req)
	var got []string
	for _, r := range resp.Addresses {
		if r.Code != sdk.AllocOK {
			got = append(got, r.Code.String())
		} else {
			got = append(got, r.Address)
		}
	}
	want := "[10.0.0.3/29 10.0.0.5/29 10.0.0.6/29 address pool exhausted address pool exhausted unknown network]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v\nwant %s", got, want)
	}
}

func TestIPv6(t *testing.T) {
	req := &sdk.AllocateRequest{
		Networks:  []sdk.Network{{ID: "n", Subnet: "fd00::/64", Gateway: "fd00::1"}},
		Addresses: []sdk.AddressRequest{{ID: "a", NetworkID: "n"}},
	}
	if got := ipam.Allocate(req).Addresses[0].Address; got != "fd00::2/64" {
		t.Fatalf("got %s", got)
	}
}
