// Package ipam is the reference allocation policy: addresses from each
// network's subnet (never the network address, the gateway or, for IPv4,
// the broadcast address; lowest free address first, so freed addresses are
// reused) and dynamic published ports from the port range (lowest free
// first, per protocol). Pure; used natively and by the built-in ipam Wasm
// guest.
package ipam

import (
	"net/netip"
	"strconv"

	"github.com/shoal-project/shoal/sdk"
)

type pool struct {
	prefix netip.Prefix
	last   netip.Addr // last usable address
	next   netip.Addr // every usable address below next is taken
	used   map[netip.Addr]struct{}
	bad    bool
}

func newPool(n *sdk.Network) *pool {
	p := &pool{used: make(map[netip.Addr]struct{})}
	prefix, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		p.bad = true
		return p
	}
	p.prefix = prefix.Masked()
	first := p.prefix.Addr().Next() // skip the network address
	p.last = lastAddr(p.prefix)
	if p.prefix.Addr().Is4() && p.prefix.Bits() < 31 {
		p.last = p.last.Prev() // skip broadcast
	}
	if !first.IsValid() || !p.last.IsValid() || p.last.Less(first) {
		p.bad = true
		return p
	}
	p.next = first
	if gw, err := netip.ParseAddr(n.Gateway); err == nil {
		p.used[gw.Unmap()] = struct{}{}
	}
	for _, s := range n.Allocated {
		if a, err := netip.ParseAddr(s); err == nil {
			p.used[a.Unmap()] = struct{}{}
		} else if pr, err := netip.ParsePrefix(s); err == nil {
			p.used[pr.Addr().Unmap()] = struct{}{}
		}
	}
	return p
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			if i*8+bit >= bits {
				b[i] |= 0x80 >> bit
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (p *pool) take() (netip.Addr, bool) {
	for a := p.next; a.IsValid() && !p.last.Less(a); a = a.Next() {
		if _, taken := p.used[a]; !taken {
			p.used[a] = struct{}{}
			p.next = a.Next()
			return a, true
		}
	}
	p.next = p.last.Next()
	return netip.Addr{}, false
}

// Allocate answers every address and port request, in order.
func Allocate(req *sdk.AllocateRequest) *sdk.AllocateResponse {
	resp := &sdk.AllocateResponse{
		Addresses: make([]sdk.AddressResult, len(req.Addresses)),
		Ports:     make([]sdk.PortResult, len(req.Ports)),
	}
	pools := make(map[string]*pool, len(req.Networks))
	nets := make(map[string]*sdk.Network, len(req.Networks))
	for i := range req.Networks {
		nets[req.Networks[i].ID] = &req.Networks[i]
	}
	for i, a := range req.Addresses {
		n, ok := nets[a.NetworkID]
		if !ok {
			resp.Addresses[i].Code = sdk.AllocUnknownNetwork
			continue
		}
		p := pools[a.NetworkID]
		if p == nil {
			p = newPool(n)
			pools[a.NetworkID] = p
		}
		if p.bad {
			resp.Addresses[i].Code = sdk.AllocInvalidSubnet
			continue
		}
		addr, ok := p.take()
		if !ok {
			resp.Addresses[i].Code = sdk.AllocPoolExhausted
			continue
		}
		resp.Addresses[i].Address = addr.String() + "/" + strconv.Itoa(p.prefix.Bits())
	}
	allocatePorts(req, resp)
	return resp
}

func allocatePorts(req *sdk.AllocateRequest, resp *sdk.AllocateResponse) {
	lo, hi := req.PortRangeStart, req.PortRangeEnd
	if lo == 0 {
		lo = sdk.DefaultPortRangeStart
	}
	if hi == 0 {
		hi = sdk.DefaultPortRangeEnd
	}
	used := make(map[string]map[uint32]struct{})
	next := make(map[string]uint32)
	for _, u := range req.UsedPorts {
		m := used[u.Protocol]
		if m == nil {
			m = make(map[uint32]struct{})
			used[u.Protocol] = m
		}
		m[u.Port] = struct{}{}
	}
	for i, pr := range req.Ports {
		switch pr.Protocol {
		case "tcp", "udp", "sctp":
		default:
			resp.Ports[i].Code = sdk.AllocInvalidProtocol
			continue
		}
		m := used[pr.Protocol]
		if m == nil {
			m = make(map[uint32]struct{})
			used[pr.Protocol] = m
		}
		port, ok := next[pr.Protocol]
		if !ok {
			port = lo
		}
		for ; port <= hi && port >= lo; port++ {
			if _, taken := m[port]; !taken {
				break
			}
		}
		if port > hi || port < lo {
			next[pr.Protocol] = hi + 1
			resp.Ports[i].Code = sdk.AllocPortsExhausted
			continue
		}
		m[port] = struct{}{}
		next[pr.Protocol] = port + 1
		resp.Ports[i].Port = port
	}
}
