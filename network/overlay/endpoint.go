//go:build linux

package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Attach gives a task an interface on a network: a veth whose sandbox end is
// on the bridge and whose other end, in the task's namespace, has the task's
// address and MAC. A pair already there (after a restart) is adopted; a half
// pair is replaced. The network must have been set up with EnsureNetwork.
func (m *Manager) Attach(cfg EndpointConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.MAC == nil {
		cfg.MAC, _ = MACFromIP(cfg.Addr.Addr()) // validate checked it is IPv4
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, err := m.openSandbox(cfg.NetworkID, false)
	if err != nil {
		return err
	}
	task, err := openTaskNetns(cfg.NetnsPath)
	if err != nil {
		return fmt.Errorf("overlay: task %s: %w", cfg.TaskID, err)
	}
	defer task.close()
	if err := m.attach(sb, task, cfg); err != nil {
		return fmt.Errorf("overlay: attach task %s to network %s: %w", cfg.TaskID, cfg.NetworkID, err)
	}
	return nil
}

func (m *Manager) attach(sb *sandbox, task *taskNetns, cfg EndpointConfig) error {
	outer, err := sb.nl.LinkByName(endpointLinkName(cfg.TaskID))
	if err != nil && !isNotFound(err) {
		return err
	}
	inner, err := task.linkWithMAC(cfg.MAC)
	if err != nil {
		return err
	}
	if outer == nil || inner == nil { // none, or half a pair: start over
		if err := errors.Join(deleteIfPresent(sb.nl, outer), deleteIfPresent(task.nl, inner)); err != nil {
			return err
		}
		if outer, inner, err = m.createVeth(sb, task, cfg); err != nil {
			return err
		}
	}
	return m.configureVeth(sb, task, outer, inner, cfg)
}

func (m *Manager) createVeth(sb *sandbox, task *taskNetns, cfg EndpointConfig) (outer, inner netlink.Link, err error) {
	ifName := cfg.IfName
	if ifName == "" {
		if ifName, err = task.freeIfName(); err != nil {
			return nil, nil, err
		}
	}
	mtu := m.mtu
	if br, err := sb.nl.LinkByName(bridgeName); err == nil {
		mtu = br.Attrs().MTU // smaller on an encrypted network
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = endpointLinkName(cfg.TaskID), mtu
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         ifName,
		PeerHardwareAddr: cfg.MAC,
		PeerNamespace:    netlink.NsFd(int(task.ns)),
		PeerMTU:          uint32(mtu),
	}
	if err := sb.nl.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth %s/%s: %w", attrs.Name, ifName, err)
	}
	m.log.Info("overlay: created endpoint", "netns", sb.name, "task", cfg.TaskID, "veth", attrs.Name, "ifname", ifName, "addr", cfg.Addr)
	if outer, err = sb.nl.LinkByName(attrs.Name); err != nil {
		return nil, nil, err
	}
	if inner, err = task.nl.LinkByName(ifName); err != nil {
		return nil, nil, err
	}
	return outer, inner, nil
}

// configureVeth makes both ends right whether just made or adopted.
func (m *Manager) configureVeth(sb *sandbox, task *taskNetns, outer, inner netlink.Link, cfg EndpointConfig) error {
	br, err := sb.nl.LinkByName(bridgeName)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if err := sb.nl.LinkSetMasterByIndex(outer, br.Attrs().Index); err != nil {
		return fmt.Errorf("veth to bridge: %w", err)
	}
	if err := sb.nl.LinkSetAlias(outer, cfg.TaskID); err != nil { // the full ID, for Endpoints
		return fmt.Errorf("veth alias: %w", err)
	}
	if err := sb.nl.LinkSetUp(outer); err != nil {
		return fmt.Errorf("veth up: %w", err)
	}
	addr := &net.IPNet{IP: cfg.Addr.Addr().AsSlice(), Mask: net.CIDRMask(cfg.Addr.Bits(), cfg.Addr.Addr().BitLen())}
	if err := task.nl.AddrReplace(inner, &netlink.Addr{IPNet: addr}); err != nil {
		return fmt.Errorf("address %s: %w", cfg.Addr, err)
	}
	if err := task.nl.LinkSetUp(inner); err != nil {
		return fmt.Errorf("task interface up: %w", err)
	}
	return nil
}

// Detach removes a task's interface from a network (deleting the sandbox end
// of the veth deletes both). When it was the network's last endpoint the
// sandbox goes too, so the next Attach needs EnsureNetwork and SetPeers
// again. Detaching what is not attached is not an error.
func (m *Manager) Detach(networkID, taskID string) error {
	if err := errors.Join(validateID("network ID", networkID), validateID("task ID", taskID)); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, err := m.openSandbox(networkID, false)
	if errors.Is(err, ErrNetworkNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	link, err := sb.nl.LinkByName(endpointLinkName(taskID))
	if err != nil && !isNotFound(err) {
		return err
	}
	if err := deleteIfPresent(sb.nl, link); err != nil {
		return err
	}
	left, err := endpointLinks(sb)
	if err != nil || len(left) > 0 {
		return err
	}
	sb.close()
	delete(m.sandboxes, networkID)
	return m.removeSandbox(sb.name)
}

func deleteIfPresent(h *netlink.Handle, l netlink.Link) error {
	if l == nil {
		return nil
	}
	return deleteLink(h, l)
}

// taskNetns is an open handle on a task's namespace, for one call.
type taskNetns struct {
	ns netns.NsHandle
	nl *netlink.Handle
}

func openTaskNetns(path string) (*taskNetns, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return &taskNetns{ns: ns, nl: h}, nil
}

func (t *taskNetns) close() {
	t.nl.Close()
	t.ns.Close()
}

// linkWithMAC finds the task end of a veth by its MAC, which is unique on
// the network; nil if there is none.
func (t *taskNetns) linkWithMAC(mac net.HardwareAddr) (netlink.Link, error) {
	links, err := t.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list task links: %w", err)
	}
	for _, l := range links {
		if _, ok := l.(*netlink.Veth); ok && bytes.Equal(l.Attrs().HardwareAddr, mac) {
			return l, nil
		}
	}
	return nil, nil
}

func (t *taskNetns) freeIfName() (string, error) {
	links, err := t.nl.LinkList()
	if err != nil {
		return "", fmt.Errorf("list task links: %w", err)
	}
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.Attrs().Name
	}
	return freeIfName(names), nil
}
