package lb

import (
	"errors"
	"fmt"
	"net/netip"
)

// Protocol is a transport protocol a VIP port is balanced for.
type Protocol string

// The protocols a VIP port can carry.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Port is one published port of a VIP.
type Port struct {
	Protocol Protocol
	// Port is the port clients connect to on the VIP.
	Port uint16
	// TargetPort is the backends' port; zero means the same as Port.
	TargetPort uint16
}

// Service is one VIP and the healthy tasks behind it.
type Service struct {
	// Name appears in errors only.
	Name string
	VIP  netip.Addr
	// Ports lists the balanced ports; none balances every port and protocol of
	// the VIP to the same port of a backend (as swarm mode does).
	Ports    []Port
	Backends []netip.Addr
}

// ErrInvalidService is wrapped by every validation error of Sync.
var ErrInvalidService = errors.New("invalid load-balanced service")

func (p Port) target() uint16 {
	if p.TargetPort == 0 {
		return p.Port
	}
	return p.TargetPort
}

func validate(services []Service) error {
	type key struct {
		vip   netip.Addr
		proto Protocol
		port  uint16
	}
	seen := make(map[key]string)
	owner := make(map[netip.Addr]Service) // the first service on each VIP
	for _, s := range services {
		if err := s.validate(); err != nil {
			return err
		}
		if o, ok := owner[s.VIP]; ok && (len(o.Ports) == 0 || len(s.Ports) == 0) {
			return fmt.Errorf("%w: services %q and %q both claim %s and one balances all its ports: give the VIP to one service",
				ErrInvalidService, o.Name, s.Name, s.VIP)
		}
		if _, ok := owner[s.VIP]; !ok {
			owner[s.VIP] = s
		}
		for _, p := range s.Ports {
			k := key{s.VIP, p.Protocol, p.Port}
			if other, dup := seen[k]; dup {
				return fmt.Errorf("%w: services %q and %q both claim %s %s/%d: give each VIP port to one service",
					ErrInvalidService, other, s.Name, s.VIP, p.Protocol, p.Port)
			}
			seen[k] = s.Name
		}
	}
	return nil
}

func (s Service) validate() error {
	if !s.VIP.Is4() {
		return fmt.Errorf("%w: service %q: VIP %q is not an IPv4 address (only IPv4 VIPs are balanced)", ErrInvalidService, s.Name, s.VIP)
	}
	for _, p := range s.Ports {
		if p.Protocol != TCP && p.Protocol != UDP {
			return fmt.Errorf("%w: service %q: port %d: protocol %q must be %q or %q", ErrInvalidService, s.Name, p.Port, p.Protocol, TCP, UDP)
		}
		if p.Port == 0 {
			return fmt.Errorf("%w: service %q: port 0 (%s): set a port between 1 and 65535", ErrInvalidService, s.Name, p.Protocol)
		}
	}
	for i, b := range s.Backends {
		if !b.Is4() {
			return fmt.Errorf("%w: service %q: backend %d: %q is not an IPv4 address", ErrInvalidService, s.Name, i, b)
		}
	}
	return nil
}

// cloneServices deep-copies services, never returning nil.
func cloneServices(services []Service) []Service {
	out := make([]Service, len(services))
	for i, s := range services {
		s.Ports = append([]Port(nil), s.Ports...)
		s.Backends = append([]netip.Addr(nil), s.Backends...)
		out[i] = s
	}
	return out
}
