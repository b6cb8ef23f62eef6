package allocator

import (
	"context"
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

// maxRounds bounds the allocation rounds of one pass (a round fails at
// least one task, and in practice all the tasks of a full network at once).
const maxRounds = 8

// allocateAddresses asks for a VIP per new (service, network) and an
// address per (task, network of its service) admitted, with the ports
// already in req. A task the policy refuses on one of its networks (a
// policy may decline what admit counted room for) holds nothing, but what
// it got on the others was counted as taken in that answer and may have
// crowded out other tasks; so those tasks are failed, admission redone
// without them, and the rest asked again, up to maxRounds answers.
func (a *Allocator) allocateAddresses(ctx context.Context, req *sdk.AllocateRequest, plans map[string]*svcPlan,
	tasks []*taskPlan, nets map[string]*shoalv1.Network) (*sdk.AllocateResponse, int) {
	fallbacks := 0
	for round := 1; ; round++ {
		admit(req, plans, tasks, nets)
		buildAddressRequests(req, plans, tasks)
		if len(req.Ports)+len(req.Addresses) == 0 {
			return &sdk.AllocateResponse{}, fallbacks
		}
		resp, fb := a.allocate(ctx, req)
		fallbacks += fb
		if round == maxRounds || !failPartial(resp, tasks, nets) {
			return resp, fallbacks
		}
		for _, tp := range tasks {
			if tp.waiting {
				tp.err, tp.waiting = "", false
			}
		}
	}
}

// buildAddressRequests sets req.Addresses: the VIPs plans still need, then
// the addresses of the tasks not failed yet.
func buildAddressRequests(req *sdk.AllocateRequest, plans map[string]*svcPlan, tasks []*taskPlan) {
	req.Addresses = req.Addresses[:0]
	for _, id := range sortedKeys(plans) {
		sp := plans[id]
		sp.vipReqs = sp.vipReqs[:0]
		for _, vi := range sp.vipNets {
			sp.vipReqs = append(sp.vipReqs, len(req.Addresses))
			req.Addresses = append(req.Addresses, sdk.AddressRequest{ID: id, NetworkID: sp.vips[vi].GetNetworkId()})
		}
	}
	for _, tp := range tasks {
		tp.reqs = tp.reqs[:0]
		if tp.err != "" {
			continue
		}
		for _, nid := range tp.sp.svc.GetSpec().GetNetworks() {
			tp.reqs = append(tp.reqs, len(req.Addresses))
			req.Addresses = append(req.Addresses, sdk.AddressRequest{ID: tp.t.GetId(), NetworkID: nid})
		}
	}
}

// failPartial fails the tasks resp gave some but not all of their
// addresses, and reports whether there were any.
func failPartial(resp *sdk.AllocateResponse, tasks []*taskPlan, nets map[string]*shoalv1.Network) bool {
	found := false
	for _, tp := range tasks {
		ok, reason := 0, ""
		for i, ri := range tp.reqs {
			if c := resp.Addresses[ri].Code; c != sdk.AllocOK {
				if reason == "" {
					reason = failReason(nets[tp.sp.svc.GetSpec().GetNetworks()[i]], c)
				}
				continue
			}
			ok++
		}
		if reason != "" && ok > 0 {
			tp.err, found = reason, true
		}
	}
	return found
}
