package containerd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/shoal-project/shoal/runtime"
)

// Host-mode published ports, as Docker publishes a container's port: for each,
// the node DNATs connections to any of its own addresses on the published port
// to the task's bridge address and target port, for packets arriving from
// outside and for the node's own clients
//
//	-t nat PREROUTING -p P --dport PUB -m addrtype --dst-type LOCAL -m comment --comment shoal:BRIDGE -j DNAT --to-destination ADDR:TARGET
//	-t nat OUTPUT     (the same)
//
// The client's address is kept: the task answers through its default route,
// the bridge, where the connection's NAT is undone. The rules carry the
// bridge's tag (removed with it, swept with it) and are found again by their
// destination when the task is torn down.

// hostPortRules are the rules publishing ports of the task at addr.
func hostPortRules(bridge string, addr netip.Addr, ports []runtime.HostPort) []rule {
	var out []rule
	for _, p := range ports {
		spec := []string{"-p", p.Protocol, "--dport", strconv.Itoa(int(p.Published)), "-m", "addrtype", "--dst-type", "LOCAL",
			"-m", "comment", "--comment", ruleTag(bridge), "-j", "DNAT", "--to-destination", netip.AddrPortFrom(addr, p.Target).String()}
		out = append(out, rule{"nat", "PREROUTING", spec}, rule{"nat", "OUTPUT", slices.Clone(spec)})
	}
	return out
}

// publishHostPorts adds the rules of the task at addr that are missing.
func (n *network) publishHostPorts(ctx context.Context, addr netip.Addr, ports []runtime.HostPort) error {
	for _, r := range hostPortRules(n.bridge, addr, ports) {
		if err := ensureRule(ctx, n.ipt, r); err != nil {
			if errors.Is(err, errNoIptables) {
				return fmt.Errorf("host-mode published ports need iptables: %w", err)
			}
			return fmt.Errorf("publish host port: %w", err)
		}
	}
	return nil
}

// unpublishHostPorts deletes the bridge's DNAT rules to addr, whatever ports
// they publish (a re-adopting controller may not know them).
func (n *network) unpublishHostPorts(ctx context.Context, addr netip.Addr) error {
	var errs []error
	for _, chain := range []string{"PREROUTING", "OUTPUT"} {
		have, _, err := taggedRules(ctx, n.ipt, "nat", chain, n.bridge)
		if errors.Is(err, errNoIptables) {
			return nil
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, spec := range have {
			if i := slices.Index(spec, "--to-destination"); i < 0 || i+1 >= len(spec) || !dnatsTo(spec[i+1], addr) {
				continue
			}
			if _, err := n.ipt(ctx, rule{"nat", chain, spec}.args("-D")...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func dnatsTo(dest string, addr netip.Addr) bool {
	ap, err := netip.ParseAddrPort(dest)
	return err == nil && ap.Addr() == addr
}
