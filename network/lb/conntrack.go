package lb

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A UDP "connection" is only a conntrack entry keyed by its addresses and
// ports: a client that sends again from the same source port after a backend
// was removed would keep reaching the removed backend until the entry times
// out. So when backends go, their UDP entries go with them (kube-proxy does
// the same); TCP connections keep their mapping, and a new one gets a fresh
// entry (see doc.go).

// goneBackends are the addresses in old that are in no backend list of now.
func goneBackends(old, now [][]netip.Addr) []netip.Addr {
	keep := map[netip.Addr]bool{}
	for _, bs := range now {
		for _, b := range bs {
			keep[b] = true
		}
	}
	var gone []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, bs := range old {
		for _, b := range bs {
			if !keep[b] && !seen[b] {
				seen[b] = true
				gone = append(gone, b)
			}
		}
	}
	return gone
}

// forgetUDPFlows deletes the UDP conntrack entries of the namespace at path
// whose replies come from one of backends (after DNAT: the flows sent to
// them).
func forgetUDPFlows(path string, backends []netip.Addr) error {
	if len(backends) == 0 {
		return nil
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoNamespace, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", path, err)
	}
	defer h.Close()
	filters := make([]netlink.CustomConntrackFilter, 0, len(backends))
	for _, b := range backends {
		f := &netlink.ConntrackFilter{}
		if err := f.AddProtocol(unix.IPPROTO_UDP); err != nil {
			return err
		}
		if err := f.AddIP(netlink.ConntrackReplySrcIP, b.AsSlice()); err != nil {
			return err
		}
		filters = append(filters, f)
	}
	if _, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...); err != nil {
		return fmt.Errorf("forget UDP flows to removed backends in %s: %w", path, err)
	}
	return nil
}

func serviceBackends(ss []Service) [][]netip.Addr {
	out := make([][]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = s.Backends
	}
	return out
}

func publishedBackends(ps []Published) [][]netip.Addr {
	out := make([][]netip.Addr, len(ps))
	for i, p := range ps {
		out[i] = p.Backends
	}
	return out
}
