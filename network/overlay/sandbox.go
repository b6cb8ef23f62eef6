//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var errNoDevice = unix.ENODEV

// sandbox is an open handle on one network's namespace.
type sandbox struct {
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle
}

func (s *sandbox) close() {
	s.nl.Close()
	s.ns.Close()
}

// EnsureNetwork creates, or adopts and corrects, the sandbox of a network:
// its namespace, bridge and VXLAN device. Calling it again is harmless.
func (m *Manager) EnsureNetwork(cfg NetworkConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, err := m.openSandbox(cfg.ID, true)
	if err != nil {
		return err
	}
	c, err := m.carrierOf(cfg)
	if err != nil {
		return err
	}
	br, err := m.ensureBridge(sb, cfg, c.mtu)
	if err != nil {
		return fmt.Errorf("overlay: network %s: %w", cfg.ID, err)
	}
	if err := m.ensureVXLAN(sb, br, cfg.VNI, c); err != nil {
		return fmt.Errorf("overlay: network %s: %w", cfg.ID, err)
	}
	return nil
}

// RemoveNetwork deletes a network's sandbox and every device in it, which
// also removes its tasks' interfaces. A missing network is not an error.
func (m *Manager) RemoveNetwork(networkID string) error {
	if err := validateID("network ID", networkID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sb, ok := m.sandboxes[networkID]; ok {
		sb.close()
		delete(m.sandboxes, networkID)
	}
	return m.removeSandbox(sandboxName(m.cfg.SandboxPrefix, networkID))
}

// openSandbox returns the open sandbox of a network, opening (and, with
// create, creating) its namespace; ErrNetworkNotFound if there is none.
func (m *Manager) openSandbox(networkID string, create bool) (*sandbox, error) {
	if sb, ok := m.sandboxes[networkID]; ok {
		return sb, nil
	}
	name := sandboxName(m.cfg.SandboxPrefix, networkID)
	var ns netns.NsHandle
	var err error
	if create {
		var created bool
		ns, created, err = openOrCreateNamedNetns(name)
		if created {
			m.log.Info("overlay: created sandbox", "network", networkID, "netns", name)
		}
	} else {
		ns, err = netns.GetFromName(name)
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%w: %s (no netns %s; call EnsureNetwork first)", ErrNetworkNotFound, networkID, name)
		}
	}
	if err != nil {
		return nil, err
	}
	sb, err := newSandbox(name, ns)
	if err != nil {
		return nil, err
	}
	m.sandboxes[networkID] = sb
	return sb, nil
}

// newSandbox opens a netlink handle in ns; it owns ns from here on.
func newSandbox(name string, ns netns.NsHandle) (*sandbox, error) {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("overlay: netlink in %s: %w", name, err)
	}
	return &sandbox{name: name, ns: ns, nl: h}, nil
}

// carrier is what a network's VXLAN device sends through: the underlay
// link, or the tunnel link for an encrypted network.
type carrier struct {
	link int // index in the host namespace
	port int
	mtu  int // of the network's devices
}

func (m *Manager) carrierOf(cfg NetworkConfig) (carrier, error) {
	if !cfg.Encrypted {
		return carrier{link: m.underlay, port: m.cfg.VXLANPort, mtu: m.mtu}, nil
	}
	if m.cfg.EncryptLink == "" {
		return carrier{}, fmt.Errorf("%w: network %s needs the node's WireGuard tunnel", ErrNoEncryption, cfg.ID)
	}
	l, err := m.host.LinkByName(m.cfg.EncryptLink)
	if err != nil {
		return carrier{}, fmt.Errorf("%w: network %s: tunnel link %s: %w", ErrNoEncryption, cfg.ID, m.cfg.EncryptLink, err)
	}
	if err := m.ensureEncryptRoute(l.Attrs().Index); err != nil {
		return carrier{}, err
	}
	return carrier{link: l.Attrs().Index, port: m.cfg.EncryptedVXLANPort, mtu: l.Attrs().MTU - vxlanOverhead}, nil
}

func (m *Manager) ensureBridge(sb *sandbox, cfg NetworkConfig, mtu int) (netlink.Link, error) {
	br, err := sb.nl.LinkByName(bridgeName)
	if isNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = bridgeName, mtu
		if err = sb.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return nil, fmt.Errorf("create bridge: %w", err)
		}
		br, err = sb.nl.LinkByName(bridgeName)
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	if cfg.Gateway.IsValid() {
		gw := &net.IPNet{IP: cfg.Gateway.AsSlice(), Mask: net.CIDRMask(cfg.Subnet.Bits(), cfg.Gateway.BitLen())}
		if err := sb.nl.AddrReplace(br, &netlink.Addr{IPNet: gw}); err != nil {
			return nil, fmt.Errorf("gateway %s on bridge: %w", cfg.Gateway, err)
		}
	}
	if err := sb.nl.LinkSetAlias(br, cfg.ID); err != nil { // the full ID, for Networks
		return nil, fmt.Errorf("bridge alias: %w", err)
	}
	if err := sb.nl.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bridge up: %w", err)
	}
	return br, nil
}

// ensureVXLAN keeps vxlan0 in the sandbox with the network's VNI, port and
// carrier, enslaved to the bridge and up; a device that differs is replaced.
func (m *Manager) ensureVXLAN(sb *sandbox, br netlink.Link, vni int, c carrier) error {
	link, err := sb.nl.LinkByName(vxlanName)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("vxlan: %w", err)
	}
	if vx, ok := link.(*netlink.Vxlan); ok && !m.vxlanMatches(vx, vni, c) {
		m.log.Info("overlay: replacing vxlan device", "netns", sb.name, "vni", vx.VxlanId, "want_vni", vni)
		if err := deleteLink(sb.nl, vx); err != nil {
			return err
		}
		link = nil
	}
	if link == nil {
		if link, err = m.createVXLAN(sb, vni, c); err != nil {
			return err
		}
	}
	if err := sb.nl.LinkSetMasterByIndex(link, br.Attrs().Index); err != nil {
		return fmt.Errorf("vxlan to bridge: %w", err)
	}
	if err := sb.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("vxlan up: %w", err)
	}
	return nil
}

func (m *Manager) vxlanMatches(vx *netlink.Vxlan, vni int, c carrier) bool {
	return vx.VxlanId == vni && vx.Port == c.port && !vx.Learning && vx.MTU == c.mtu &&
		vx.SrcAddr.Equal(net.IP(m.cfg.UnderlayAddr.AsSlice()))
}

// createVXLAN creates the device in the host namespace, where its UDP socket
// stays, moves it into the sandbox and renames it there. Bound to the
// carrier's link, its packets to other nodes leave through that link only.
func (m *Manager) createVXLAN(sb *sandbox, vni int, c carrier) (netlink.Link, error) {
	tmp := hostVXLANName(vni)
	for _, h := range []*netlink.Handle{m.host, sb.nl} { // left by a crash before the move or the rename
		if old, err := h.LinkByName(tmp); err == nil {
			if err := deleteLink(h, old); err != nil {
				return nil, err
			}
		}
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = tmp, c.mtu
	vx := &netlink.Vxlan{
		LinkAttrs:    attrs,
		VxlanId:      vni,
		VtepDevIndex: c.link,
		SrcAddr:      m.cfg.UnderlayAddr.AsSlice(),
		Port:         c.port,
		Learning:     false,
		Proxy:        true, // answer ARP from the neighbour entries
	}
	if err := m.host.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("create vxlan %d: %w", vni, err)
	}
	if err := m.host.LinkSetNsFd(vx, int(sb.ns)); err != nil {
		return nil, errors.Join(fmt.Errorf("move vxlan %d into %s: %w", vni, sb.name, err), deleteLink(m.host, vx))
	}
	link, err := sb.nl.LinkByName(tmp)
	if err != nil {
		return nil, fmt.Errorf("vxlan %d in %s: %w", vni, sb.name, err)
	}
	if err := sb.nl.LinkSetName(link, vxlanName); err != nil {
		return nil, fmt.Errorf("rename vxlan %d: %w", vni, err)
	}
	m.log.Info("overlay: created vxlan", "netns", sb.name, "vni", vni, "port", c.port, "mtu", c.mtu)
	return sb.nl.LinkByName(vxlanName)
}

// removeSandbox deletes the devices in a sandbox namespace, so the task ends
// of its veths vanish now rather than when the kernel frees the namespace,
// then the namespace itself.
func (m *Manager) removeSandbox(name string) error {
	ns, err := netns.GetFromName(name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err == nil {
		err = deleteAllLinks(ns)
		ns.Close()
	}
	if derr := deleteNamedNetns(name); derr != nil {
		return errors.Join(err, derr)
	}
	m.log.Info("overlay: removed sandbox", "netns", name)
	return err
}

func deleteAllLinks(ns netns.NsHandle) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("overlay: netlink: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("overlay: list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			errs = append(errs, deleteLink(h, l))
		}
	}
	return errors.Join(errs...)
}

// endpointLinks lists the task veth ends in a sandbox.
func endpointLinks(sb *sandbox) ([]netlink.Link, error) {
	links, err := sb.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("overlay: list links in %s: %w", sb.name, err)
	}
	var out []netlink.Link
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, endpointPrefix) {
			out = append(out, l)
		}
	}
	return out, nil
}
