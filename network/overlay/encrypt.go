//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
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

// ensureEncryptRoute installs the rule, the table's two routes and the
// input filter; each step is idempotent.
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
	rule, _ := m.encryptRule()
	if err := m.host.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("overlay: rule udp dport %d lookup %d: %w", table, table, err)
	}
	return m.ensureEncryptFilter()
}

// encryptRule is "ipproto udp dport PORT lookup PORT" and its table.
func (m *Manager) encryptRule() (*netlink.Rule, int) {
	table := m.cfg.EncryptedVXLANPort
	rule := netlink.NewRule()
	rule.Family, rule.Priority, rule.Table = unix.AF_INET, encryptRulePriority, table
	rule.IPProto = unix.IPPROTO_UDP
	rule.Dport = netlink.NewRulePortRange(uint16(table), uint16(table))
	return rule, table
}

// EncryptFilterTable is the nftables table (ip family, host namespace)
// that drops packets to EncryptedVXLANPort that did not come out of the
// tunnel: the VXLAN socket takes packets from any link, so without it a
// host on the underlay could inject frames into an encrypted network.
const EncryptFilterTable = "shoal-encrypt"

// ensureEncryptFilter replaces the filter table in one transaction:
// iifname != TUNNEL udp dport PORT drop, on the input hook.
func (m *Manager) ensureEncryptFilter() error {
	c, done, err := m.nftConn()
	if err != nil {
		return err
	}
	defer done()
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: EncryptFilterTable}
	c.DelTable(c.AddTable(t))
	t = c.AddTable(t)
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	ifname := make([]byte, unix.IFNAMSIZ)
	copy(ifname, m.cfg.EncryptLink)
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(m.cfg.EncryptedVXLANPort))},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("overlay: nftables table %s: %w", EncryptFilterTable, err)
	}
	return nil
}

// nftConn is an nftables connection in the host namespace; done releases
// the namespace handle it opens its sockets from (after the last Flush).
func (m *Manager) nftConn() (c *nftables.Conn, done func(), err error) {
	if m.cfg.HostNetnsPath == "" {
		c, err = nftables.New()
		return c, func() {}, err
	}
	ns, err := netns.GetFromPath(m.cfg.HostNetnsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("overlay: host netns: %w", err)
	}
	if c, err = nftables.New(nftables.WithNetNSFd(int(ns))); err != nil {
		ns.Close()
		return nil, nil, err
	}
	return c, func() { ns.Close() }, nil
}

// removeEncrypt deletes what ensureEncryptRoute installed; what is
// already gone is not an error.
func (m *Manager) removeEncrypt() error {
	rule, table := m.encryptRule()
	errs := []error{m.host.RuleDel(rule)}
	routes, err := m.host.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	errs = append(errs, err)
	for _, r := range routes {
		errs = append(errs, m.host.RouteDel(&r))
	}
	c, done, err := m.nftConn()
	if err == nil {
		defer done()
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: EncryptFilterTable})
		err = c.Flush()
	}
	errs = append(errs, err)
	for i, e := range errs {
		if errors.Is(e, unix.ENOENT) || errors.Is(e, unix.ESRCH) {
			errs[i] = nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("overlay: remove the encrypted networks' rule, routes and filter: %w", err)
	}
	return nil
}
