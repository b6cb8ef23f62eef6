package allocator

import (
	"fmt"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
	"google.golang.org/protobuf/proto"
)

// planVIPs resolves a service's networks against its current VIPs: one
// kept per network still in the spec, one asked for per network without,
// and the ones of networks it left dropped.
func planVIPs(sp *svcPlan, nets map[string]*shoalv1.Network) {
	prev := make(map[string]*shoalv1.Attachment)
	for _, at := range sp.svc.GetEndpoint().GetVirtualIps() {
		prev[at.GetNetworkId()] = at
	}
	kept := 0
	for _, nid := range sp.svc.GetSpec().GetNetworks() {
		if nets[nid] == nil {
			continue
		}
		if at := prev[nid]; at != nil && len(at.GetAddresses()) > 0 {
			sp.vips = append(sp.vips, proto.CloneOf(at))
			kept++
			continue
		}
		sp.vipNets = append(sp.vipNets, len(sp.vips))
		sp.vips = append(sp.vips, &shoalv1.Attachment{NetworkId: nid})
	}
	sp.vipChanged = kept != len(prev)
}

// takeVIPs records the VIPs the policy answered for sp.
func (a *Allocator) takeVIPs(sp *svcPlan, resp *sdk.AllocateResponse) {
	for i, vi := range sp.vipNets {
		r := resp.Addresses[sp.vipReqs[i]]
		if r.Code != sdk.AllocOK {
			a.log.Warn("allocator: no VIP for service", "service", sp.svc.GetSpec().GetName(),
				"network", sp.vips[vi].GetNetworkId(), "code", r.Code.String())
			continue
		}
		sp.vips[vi].Addresses = []string{r.Address}
		sp.vipChanged = true
	}
}

// allocatedVIPs drops the entries that got no address.
func allocatedVIPs(vips []*shoalv1.Attachment) []*shoalv1.Attachment {
	out := make([]*shoalv1.Attachment, 0, len(vips))
	for _, at := range vips {
		if len(at.GetAddresses()) > 0 {
			out = append(out, at)
		}
	}
	return out
}

// failReason is a task's Status.Err when its address on n failed.
func failReason(n *shoalv1.Network, code sdk.AllocCode) string {
	name := n.GetSpec().GetName()
	if code == sdk.AllocPoolExhausted {
		return fmt.Sprintf("network %s has no free addresses", name)
	}
	return fmt.Sprintf("network %s: %s", name, code)
}

// subnetOf is the subnet in effect of n (set at create, or the spec's for
// networks stored before that).
func subnetOf(n *shoalv1.Network) string {
	if s := n.GetSubnet(); s != "" {
		return s
	}
	return n.GetSpec().GetSubnet()
}

func gatewayOf(n *shoalv1.Network) string {
	if s := n.GetGateway(); s != "" {
		return s
	}
	return n.GetSpec().GetGateway()
}
