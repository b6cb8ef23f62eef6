package ipam_test

import (
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/ipam"
)

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
