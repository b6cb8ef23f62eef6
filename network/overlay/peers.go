//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SetPeers makes a network's remote entries exactly peers: for each, an FDB
// entry (MAC -> node underlay address) and a neighbour entry (IP -> MAC) on
// the VXLAN device; entries of peers not listed are removed. Peers on this
// node (NodeAddr == UnderlayAddr) are skipped: they are on the bridge.
func (m *Manager) SetPeers(networkID string, peers []Peer) error {
	return m.withVXLAN(networkID, func(sb *sandbox, vx netlink.Link) error {
		want := make(map[netip.Addr]Peer, len(peers))
		for _, p := range peers {
			if err := p.validate(); err != nil {
				return err
			}
			if p.NodeAddr != m.cfg.UnderlayAddr {
				want[p.Addr] = p
			}
		}
		if err := m.removeStale(sb, vx, want); err != nil {
			return err
		}
		for _, p := range want {
			if err := addPeer(sb, vx, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddPeer adds or updates one remote attachment.
func (m *Manager) AddPeer(networkID string, p Peer) error {
	if err := p.validate(); err != nil {
		return err
	}
	if p.NodeAddr == m.cfg.UnderlayAddr {
		return nil
	}
	return m.withVXLAN(networkID, func(sb *sandbox, vx netlink.Link) error {
		return addPeer(sb, vx, p)
	})
}

// RemovePeer removes one remote attachment; a missing one is not an error.
func (m *Manager) RemovePeer(networkID string, p Peer) error {
	if err := p.validate(); err != nil {
		return err
	}
	return m.withVXLAN(networkID, func(sb *sandbox, vx netlink.Link) error {
		return errors.Join(
			ignoreMissing(sb.nl.NeighDel(fdbEntry(vx, p.MAC, p.NodeAddr.AsSlice()))),
			ignoreMissing(sb.nl.NeighDel(neighEntry(vx, p.Addr, p.MAC))))
	})
}

func (m *Manager) withVXLAN(networkID string, fn func(*sandbox, netlink.Link) error) error {
	if err := validateID("network ID", networkID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, err := m.openSandbox(networkID, false)
	if err != nil {
		return err
	}
	vx, err := sb.nl.LinkByName(vxlanName)
	if err != nil {
		return fmt.Errorf("%w: %s has no vxlan device (call EnsureNetwork): %w", ErrNetworkNotFound, networkID, err)
	}
	if err := fn(sb, vx); err != nil {
		return fmt.Errorf("overlay: peers of network %s: %w", networkID, err)
	}
	return nil
}

func addPeer(sb *sandbox, vx netlink.Link, p Peer) error {
	if err := sb.nl.NeighSet(fdbEntry(vx, p.MAC, p.NodeAddr.AsSlice())); err != nil {
		return fmt.Errorf("fdb %s -> %s: %w", p.MAC, p.NodeAddr, err)
	}
	if err := sb.nl.NeighSet(neighEntry(vx, p.Addr, p.MAC)); err != nil {
		return fmt.Errorf("neighbour %s -> %s: %w", p.Addr, p.MAC, err)
	}
	return nil
}

// removeStale deletes the FDB entries with a remote address and the
// permanent neighbour entries that want does not hold exactly.
func (m *Manager) removeStale(sb *sandbox, vx netlink.Link, want map[netip.Addr]Peer) error {
	wantFDB := make(map[string]netip.Addr, len(want))
	for _, p := range want {
		wantFDB[p.MAC.String()] = p.NodeAddr
	}
	fdb, err := sb.nl.NeighList(vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("list fdb: %w", err)
	}
	var errs []error
	for _, e := range fdb {
		node, ok := netip.AddrFromSlice(e.IP)
		if !ok || e.Flags&netlink.NTF_MASTER != 0 {
			continue // the bridge's own entry for the port, not a VXLAN remote
		}
		if want, ok := wantFDB[e.HardwareAddr.String()]; !ok || want != node.Unmap() {
			errs = append(errs, ignoreMissing(sb.nl.NeighDel(fdbEntry(vx, e.HardwareAddr, e.IP))))
		}
	}
	neigh, err := sb.nl.NeighList(vx.Attrs().Index, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list neighbours: %w", err)
	}
	for _, e := range neigh {
		if e.Family == unix.AF_BRIDGE {
			continue
		}
		ip, ok := netip.AddrFromSlice(e.IP)
		if !ok || e.State&netlink.NUD_PERMANENT == 0 {
			continue
		}
		if p, ok := want[ip.Unmap()]; !ok || p.MAC.String() != e.HardwareAddr.String() {
			errs = append(errs, ignoreMissing(sb.nl.NeighDel(neighEntry(vx, ip.Unmap(), e.HardwareAddr))))
		}
	}
	return errors.Join(errs...)
}

func fdbEntry(vx netlink.Link, mac net.HardwareAddr, node net.IP) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    vx.Attrs().Index,
		Family:       unix.AF_BRIDGE,
		State:        netlink.NUD_PERMANENT,
		Flags:        netlink.NTF_SELF,
		IP:           node,
		HardwareAddr: mac,
	}
}

func neighEntry(vx netlink.Link, ip netip.Addr, mac net.HardwareAddr) *netlink.Neigh {
	family := unix.AF_INET6
	if ip.Is4() {
		family = unix.AF_INET
	}
	return &netlink.Neigh{
		LinkIndex:    vx.Attrs().Index,
		Family:       family,
		State:        netlink.NUD_PERMANENT,
		IP:           ip.AsSlice(),
		HardwareAddr: mac,
	}
}

func ignoreMissing(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
