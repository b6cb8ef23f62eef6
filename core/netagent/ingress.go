package netagent

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/lb"
	"github.com/shoal-project/shoal/network/overlay"
)

// IngressIface is the node's interface on the ingress network, in the
// node's own namespace.
const IngressIface = "shoal-ingress"

// Mesh programs the node's published ports (network/lb.Mesh).
type Mesh interface {
	Sync(iface string, services []lb.Published) error
	Close() error
}

// MeshOpener opens the Mesh of the node's namespace.
type MeshOpener func(netnsPath string) Mesh

// ingress is the node's part of the routing mesh while it takes part.
type ingress struct {
	network string       // the ingress network's ID
	addr    netip.Prefix // the node's address on it
	mesh    Mesh
	last    []lb.Published // last synced; nil before the first Sync
}

// ingressEndpointID names the node's own endpoint on the ingress network
// (its veth and its gossip attachment): unique, as its address is.
func ingressEndpointID(addr netip.Prefix) string { return "ingress-" + addr.Addr().String() }

// reconcileIngress joins the routing mesh when the node has an ingress
// address and some service publishes an ingress port, leaves it when not,
// and programs the published ports with the tasks the gossip table holds.
func (s *state) reconcileIngress() {
	n, want := s.wantIngress()
	if s.ingress != nil && (!want || s.ingress.network != n.ID || s.ingress.addr != s.ingressAddr) {
		if err := s.leaveIngress(); err != nil {
			s.log.Warn("netagent: leave the routing mesh", "err", err)
		}
	}
	if !want {
		return
	}
	if s.ingress == nil {
		if err := s.joinIngress(n); err != nil {
			s.log.Warn("netagent: join the routing mesh", "network", n.ID, "addr", s.ingressAddr, "err", err)
			return
		}
	}
	services := published(n, s.entries)
	if s.ingress.last != nil && reflect.DeepEqual(s.ingress.last, services) {
		return
	}
	if err := s.ingress.mesh.Sync(IngressIface, services); err != nil {
		s.log.Warn("netagent: published ports", "err", err)
		s.ingress.last = nil
		return
	}
	s.ingress.last = append([]lb.Published{}, services...)
}

func (s *state) wantIngress() (Network, bool) {
	if s.cfg.OpenMesh == nil || !s.ingressAddr.IsValid() {
		return Network{}, false
	}
	for _, n := range s.networks {
		if n.Ingress {
			for _, v := range n.VIPs {
				if len(v.Ports) > 0 {
					return n, true
				}
			}
		}
	}
	return Network{}, false
}

func (s *state) joinIngress(n Network) error {
	id := ingressEndpointID(s.ingressAddr)
	ep := overlay.EndpointConfig{NetworkID: n.ID, TaskID: id, NetnsPath: s.cfg.NodeNetns, Addr: s.ingressAddr, IfName: IngressIface}
	if err := s.attachEndpoint(n, ep); err != nil {
		return err
	}
	if err := s.cfg.Gossip.Publish(gossip.Attachment{NetworkID: n.ID, TaskID: id, Addr: s.ingressAddr}); err != nil {
		return fmt.Errorf("publish the node's ingress address: %w", err)
	}
	s.ingress = &ingress{network: n.ID, addr: s.ingressAddr, mesh: s.cfg.OpenMesh(s.cfg.NodeNetns)}
	s.log.Info("netagent: joined the routing mesh", "addr", s.ingressAddr)
	return nil
}

func (s *state) leaveIngress() error {
	in := s.ingress
	s.ingress = nil
	id := ingressEndpointID(in.addr)
	return errors.Join(in.mesh.Close(), s.cfg.Gossip.Withdraw(id), s.cfg.Dataplane.Detach(in.network, id))
}

// published lists the ingress network's services with published ports and,
// as backends, the addresses of their tasks the gossip table holds there.
func published(n Network, entries map[entryKey]gossip.Entry) []lb.Published {
	var out []lb.Published
	for _, v := range n.VIPs {
		if len(v.Ports) == 0 {
			continue
		}
		p := lb.Published{Name: v.ServiceName, Ports: v.Ports}
		for _, e := range sortedEntries(entries) {
			if e.NetworkID == n.ID && e.ServiceID == v.ServiceID {
				p.Backends = appendUnique(p.Backends, e.Addr.Addr())
			}
		}
		out = append(out, p)
	}
	return out
}
