package plugins

import (
	"fmt"
	"net/netip"

	"github.com/shoal-project/shoal/sdk"
)

// allocationProblem checks an allocator's answer: one result per request;
// every address granted lies in its network's subnet, is not the network,
// broadcast or gateway address, was not already allocated and is not handed
// out twice; every port lies in the range, was not in use and is not handed
// out twice for its protocol. (A scheduler's answer is checked by
// filter.Validate, which the native scheduler uses too.)
func allocationProblem(req *sdk.AllocateRequest, resp *sdk.AllocateResponse) error {
	bad := fmt.Errorf
	if len(resp.Addresses) != len(req.Addresses) {
		return bad("%d address results for %d requests", len(resp.Addresses), len(req.Addresses))
	}
	if len(resp.Ports) != len(req.Ports) {
		return bad("%d port results for %d requests", len(resp.Ports), len(req.Ports))
	}
	type netState struct {
		prefix netip.Prefix
		taken  map[netip.Addr]bool
	}
	nets := map[string]*netState{}
	for i := range req.Networks {
		n := &req.Networks[i]
		p, err := netip.ParsePrefix(n.Subnet)
		if err != nil {
			continue
		}
		st := &netState{prefix: p.Masked(), taken: map[netip.Addr]bool{}}
		if gw, err := netip.ParseAddr(n.Gateway); err == nil {
			st.taken[gw.Unmap()] = true
		}
		for _, a := range n.Allocated {
			if addr, err := netip.ParseAddr(a); err == nil {
				st.taken[addr.Unmap()] = true
			} else if pr, err := netip.ParsePrefix(a); err == nil {
				st.taken[pr.Addr().Unmap()] = true
			}
		}
		nets[n.ID] = st
	}
	for i, r := range resp.Addresses {
		if r.Code != sdk.AllocOK {
			if r.Address != "" {
				return bad("address %d: code %v with address %q", i, r.Code, r.Address)
			}
			continue
		}
		st := nets[req.Addresses[i].NetworkID]
		if st == nil {
			return bad("address %d: granted on unknown or invalid network %q", i, req.Addresses[i].NetworkID)
		}
		p, err := netip.ParsePrefix(r.Address)
		if err != nil {
			return bad("address %d: %q is not in CIDR form: %v", i, r.Address, err)
		}
		a := p.Addr().Unmap()
		if p.Bits() != st.prefix.Bits() || !st.prefix.Contains(a) {
			return bad("address %d: %s is not in subnet %s", i, r.Address, st.prefix)
		}
		if a == st.prefix.Addr() || (a.Is4() && st.prefix.Bits() < 31 && a == broadcast(st.prefix)) {
			return bad("address %d: %s is the network or broadcast address", i, r.Address)
		}
		if st.taken[a] {
			return bad("address %d: %s is already in use", i, a)
		}
		st.taken[a] = true
	}
	lo, hi := req.PortRangeStart, req.PortRangeEnd
	if lo == 0 {
		lo = sdk.DefaultPortRangeStart
	}
	if hi == 0 {
		hi = sdk.DefaultPortRangeEnd
	}
	used := map[string]bool{}
	for _, u := range req.UsedPorts {
		used[fmt.Sprintf("%s/%d", u.Protocol, u.Port)] = true
	}
	for i, r := range resp.Ports {
		if r.Code != sdk.AllocOK {
			if r.Port != 0 {
				return bad("port %d: code %v with port %d", i, r.Code, r.Port)
			}
			continue
		}
		if r.Port < lo || r.Port > hi {
			return bad("port %d: %d outside %d-%d", i, r.Port, lo, hi)
		}
		k := fmt.Sprintf("%s/%d", req.Ports[i].Protocol, r.Port)
		if used[k] {
			return bad("port %d: %s already in use", i, k)
		}
		used[k] = true
	}
	return nil
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}
