package dispatcher

import (
	"sort"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"

	"github.com/shoal-project/shoal/core/store"
)

// networksOf describes the networks the tasks in known are attached to,
// and the ingress network when the node has an address on it (returned too):
// what a node needs to program its data plane (VNI, subnet, gateway,
// encryption) and, for service discovery, the VIPs of every service on
// each. It is computed for each message from the store as it is then; a
// VIP allocated after a task was assigned reaches the node with its next
// message.
func (d *Dispatcher) networksOf(nodeID string, known map[string]*shoalv1.Task) (nets []*shoalv1.NetworkAssignment, ingressAddr string) {
	ids := make(map[string]bool)
	for _, t := range known {
		for _, at := range t.GetNetworks() {
			ids[at.GetNetworkId()] = true
		}
	}
	var out []*shoalv1.NetworkAssignment
	_ = d.store.View(func(tx store.ReadTx) error {
		for _, at := range tx.GetNode(nodeID).GetAttachments() {
			if len(at.GetAddresses()) > 0 {
				ids[at.GetNetworkId()] = true
				ingressAddr = at.GetAddresses()[0]
			}
		}
		if len(ids) == 0 {
			return nil
		}
		byID := make(map[string]*shoalv1.NetworkAssignment, len(ids))
		for id := range ids {
			if n := tx.GetNetwork(id); n != nil {
				na := networkAssignment(n)
				byID[id] = na
				out = append(out, na)
			}
		}
		return tx.Range(store.KindService, store.All(), func(o store.Object) bool {
			svc := o.(*shoalv1.Service)
			for _, at := range svc.GetEndpoint().GetVirtualIps() {
				if na := byID[at.GetNetworkId()]; na != nil && len(at.GetAddresses()) > 0 {
					na.Vips = append(na.Vips, &shoalv1.ServiceVIP{ServiceId: svc.GetId(),
						ServiceName: svc.GetSpec().GetName(), Address: at.GetAddresses()[0],
						Ports: svc.GetEndpoint().GetPorts()})
				}
			}
			return true
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out, ingressAddr
}

func networkAssignment(n *shoalv1.Network) *shoalv1.NetworkAssignment {
	na := &shoalv1.NetworkAssignment{Id: n.GetId(), Name: n.GetSpec().GetName(), Vni: n.GetVni(),
		Subnet: n.GetSubnet(), Gateway: n.GetGateway(), Encrypted: n.GetSpec().GetEncrypted(), Ingress: n.GetSpec().GetIngress()}
	if na.Subnet == "" {
		na.Subnet, na.Gateway = n.GetSpec().GetSubnet(), n.GetSpec().GetGateway()
	}
	return na
}
