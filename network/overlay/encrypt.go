//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Encrypted networks' VXLAN packets are routed by a policy rule in the host
// namespace, not by the VXLAN device's link: the kernel looks up the route
// of an FDB entry without an interface, so the main table would send them
// out of the underlay in the clear. The rule sends every UDP packet to
// EncryptedVXLANPort to a table of its own (numbered like the port) whose
// default route is the tunnel; an unreachable route below it keeps the
// packets from leaking when the tunnel is gone (fail closed).
const (
	encryptRulePriority = 100 // before the main table's 32766
	unreachableMetric   = 4096
)

// ensureEncryptRoute installs the rule and the table's two routes; each
// step is idempotent.
func (m *Manager) ensureEncryptRoute(tunnel int) error {
	table := m.cfg.EncryptedVXLANPort
	anyV4 := &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
	routes := []*netlink.Route{
		{Table: table, Dst: anyV4, LinkIndex: tunnel, Scope: netlink.SCOPE_LINK},
		{Table: table, Dst: anyV4, Type: unix.RTN_UNREACHABLE, Priority: unreachableMetric},
	}
	for _, r := range routes {
		if err := m.host.RouteReplace(r); err != nil {
			return fmt.Errorf("overlay: route %s in table %d: %w", r.Dst, table, err)
		}
	}
	rule := netlink.NewRule()
	rule.Family, rule.Priority, rule.Table = unix.AF_INET, encryptRulePriority, table
	rule.IPProto = unix.IPPROTO_UDP
	rule.Dport = netlink.NewRulePortRange(uint16(table), uint16(table))
	if err := m.host.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("overlay: rule udp dport %d lookup %d: %w", table, table, err)
	}
	return nil
}
