package api

import (
	"net/netip"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// The ingress network 'shoal init' creates (swarm's defaults).
var (
	IngressSubnet  = netip.MustParsePrefix("10.255.0.0/16")
	IngressGateway = netip.MustParseAddr("10.255.0.1")
)

// IngressNetworkName is the routing mesh's network.
const IngressNetworkName = "ingress"

// IngressNetwork is the network a new cluster starts with: the routing
// mesh's overlay, which services with ingress-mode published ports join.
func IngressNetwork(id string) *shoalv1.Network {
	return &shoalv1.Network{
		Id:      id,
		Spec:    &shoalv1.NetworkSpec{Name: IngressNetworkName, Driver: DriverOverlay, Ingress: true},
		Vni:     FirstVNI,
		Subnet:  IngressSubnet.String(),
		Gateway: IngressGateway.String(),
	}
}

// validatePorts checks the published ports of a spec on their own.
func validatePorts(ports []*shoalv1.PortConfig) error {
	type key struct {
		proto string
		port  uint32
	}
	seen := make(map[key]int)
	for i, p := range ports {
		if p.GetTargetPort() == 0 || p.GetTargetPort() > 65535 {
			return invalidArg("spec.endpoint.ports[%d].target_port %d: use 1-65535", i, p.GetTargetPort())
		}
		if p.GetPublishedPort() > 65535 {
			return invalidArg("spec.endpoint.ports[%d].published_port %d: use 1-65535, or 0 for a dynamic port", i, p.GetPublishedPort())
		}
		if pr := taskspec.Protocol(p); pr != "tcp" && pr != "udp" {
			return invalidArg("spec.endpoint.ports[%d].protocol %q: use tcp or udp", i, p.GetProtocol())
		}
		if m := taskspec.Mode(p); m != taskspec.ModeIngress && m != taskspec.ModeHost {
			return invalidArg("spec.endpoint.ports[%d].publish_mode %q: use ingress or host", i, p.GetPublishMode())
		}
		if p.GetPublishedPort() == 0 {
			continue
		}
		k := key{taskspec.Protocol(p), p.GetPublishedPort()}
		if j, dup := seen[k]; dup {
			return invalidArg("spec.endpoint.ports[%d].published_port %d/%s: already published by ports[%d]; publish each port once", i, k.port, k.proto, j)
		}
		seen[k] = i
	}
	return nil
}

// attachIngress makes the ingress network one of sp's networks exactly when
// sp publishes a port in ingress mode (sp.networks holds IDs already).
func attachIngress(tx store.ReadTx, sp *shoalv1.ServiceSpec) error {
	ingress := ingressNetwork(tx)
	if ingress != nil {
		sp.Networks = slices.DeleteFunc(sp.Networks, func(id string) bool { return id == ingress.GetId() })
	}
	if !taskspec.HasMode(sp.GetEndpoint().GetPorts(), taskspec.ModeIngress) {
		return nil
	}
	if ingress == nil {
		return precondition("spec.endpoint.ports: ingress mode needs the cluster's ingress network, which this cluster lacks (it is made when a cluster is initialised); publish with mode=host")
	}
	sp.Networks = append(sp.Networks, ingress.GetId())
	return nil
}

// ingressNetwork is the cluster's ingress network, nil when it has none.
func ingressNetwork(tx store.ReadTx) *shoalv1.Network {
	var out *shoalv1.Network
	_ = tx.Range(store.KindNetwork, store.All(), func(o store.Object) bool {
		if n := o.(*shoalv1.Network); n.GetSpec().GetIngress() {
			out = n
			return false
		}
		return true
	})
	return out
}

// checkPortConflicts refuses a published port another service already
// publishes (in either mode: both bind the port on nodes), naming it.
func checkPortConflicts(tx store.ReadTx, sp *shoalv1.ServiceSpec, self string) error {
	for i, p := range sp.GetEndpoint().GetPorts() {
		if p.GetPublishedPort() == 0 {
			continue
		}
		var other string
		err := tx.Range(store.KindService, store.All(), func(o store.Object) bool {
			svc := o.(*shoalv1.Service)
			if svc.GetId() != self && publishes(svc, taskspec.Protocol(p), p.GetPublishedPort()) {
				other = svc.GetSpec().GetName()
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if other != "" {
			return precondition("spec.endpoint.ports[%d].published_port %d/%s: service %q already publishes it; pick another port or remove it from %q first",
				i, p.GetPublishedPort(), taskspec.Protocol(p), other, other)
		}
	}
	return nil
}

// publishes says whether svc's spec or endpoint (its dynamic ports) holds
// published port port/proto.
func publishes(svc *shoalv1.Service, proto string, port uint32) bool {
	match := func(q *shoalv1.PortConfig) bool {
		return q.GetPublishedPort() == port && taskspec.Protocol(q) == proto
	}
	return slices.ContainsFunc(svc.GetSpec().GetEndpoint().GetPorts(), match) ||
		slices.ContainsFunc(svc.GetEndpoint().GetPorts(), match)
}

// hostPortsChanged says whether an update changes the host-mode ports,
// which the tasks carry (Task.endpoint): their tasks are replaced.
func hostPortsChanged(a, b *shoalv1.ServiceSpec) bool {
	host := func(sp *shoalv1.ServiceSpec) []*shoalv1.PortConfig {
		return slices.DeleteFunc(slices.Clone(sp.GetEndpoint().GetPorts()), func(p *shoalv1.PortConfig) bool { return taskspec.Mode(p) != taskspec.ModeHost })
	}
	return !slices.EqualFunc(host(a), host(b), func(x, y *shoalv1.PortConfig) bool { return proto.Equal(x, y) })
}

// validateProcessPorts: a process task runs in its node's own network, with
// no namespace for the routing mesh to reach and nothing to forward a port
// with, so it publishes in host mode only, on its own port.
func validateProcessPorts(ports []*shoalv1.PortConfig) error {
	for i, p := range ports {
		switch {
		case taskspec.Mode(p) != taskspec.ModeHost:
			return invalidArg("spec.endpoint.ports[%d].publish_mode: a process task runs in its node's network and cannot join the routing mesh; publish with mode=host", i)
		case p.GetPublishedPort() != p.GetTargetPort():
			return invalidArg("spec.endpoint.ports[%d].published_port %d: a process task listens on the node itself, so publish its own port (published=%d)", i, p.GetPublishedPort(), p.GetTargetPort())
		}
	}
	return nil
}
