package allocator

import (
	"net/netip"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/sdk"
)

// admit counts the free addresses of every network of req and hands them,
// before the policy is asked, to the VIPs plans need and then to the tasks
// in order: a task is asked for only if every network of its service still
// has room for it, else it fails naming the first full one. So a task never
// takes an address on one network while it is refused on another (which
// would crowd out other tasks in that answer), and a task is refused only
// when its network is full. The policy may still refuse what is admitted
// (allocateAddresses deals with that).
func admit(req *sdk.AllocateRequest, plans map[string]*svcPlan, tasks []*taskPlan, nets map[string]*shoalv1.Network) {
	free := make(map[string]int, len(req.Networks))
	for _, n := range req.Networks {
		if f, ok := freeAddresses(n); ok {
			free[n.ID] = f
		}
	}
	// room says whether nid has an address left; networks not counted
	// are left to the policy.
	room := func(nid string) bool {
		f, counted := free[nid]
		return !counted || f > 0
	}
	use := func(nid string) {
		if _, counted := free[nid]; counted {
			free[nid]--
		}
	}
	for _, id := range sortedKeys(plans) {
		sp := plans[id]
		kept := sp.vipNets[:0]
		for _, vi := range sp.vipNets {
			if nid := sp.vips[vi].GetNetworkId(); room(nid) {
				kept = append(kept, vi)
				use(nid)
			}
		}
		sp.vipNets = kept
	}
	for _, tp := range tasks {
		if tp.err != "" {
			continue
		}
		ids := tp.sp.svc.GetSpec().GetNetworks()
		for _, nid := range ids {
			if !room(nid) {
				tp.err, tp.waiting = failReason(nets[nid], sdk.AllocPoolExhausted), true
				break
			}
		}
		if tp.err != "" {
			continue
		}
		for _, nid := range ids {
			use(nid)
		}
	}
}

// freeAddresses counts the host addresses of n's subnet neither its
// network address, broadcast, gateway nor allocated; ok is false for a
// subnet it cannot count (IPv6, or no room for a broadcast).
func freeAddresses(n sdk.Network) (int, bool) {
	p, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return 0, false
	}
	p = p.Masked()
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | (uint32(1)<<(32-p.Bits()) - 1)
	broadcast := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	taken := make(map[netip.Addr]bool)
	if gw, err := netip.ParseAddr(n.Gateway); err == nil {
		taken[gw.Unmap()] = true
	}
	for _, s := range n.Allocated {
		if a, ok := parseAddr(s); ok {
			taken[a] = true
		}
	}
	free := 1<<(32-p.Bits()) - 2
	for a := range taken {
		if p.Contains(a) && a != p.Addr() && a != broadcast {
			free--
		}
	}
	return free, true
}
