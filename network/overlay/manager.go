//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Manager programs the overlay devices of one node. Its methods are safe for
// concurrent use; they run one at a time.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	host     *netlink.Handle
	underlay int // index of the underlay link in the host namespace
	mtu      int

	mu        sync.Mutex
	sandboxes map[string]*sandbox // by network ID; opened on first use
}

// New opens the host namespace and finds the underlay link holding
// cfg.UnderlayAddr. It creates nothing.
func New(cfg Config) (*Manager, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	host, err := openHostHandle(c.HostNetnsPath)
	if err != nil {
		return nil, err
	}
	link, err := linkWithAddr(host, net.IP(c.UnderlayAddr.AsSlice()))
	if err != nil {
		host.Close()
		return nil, err
	}
	return &Manager{
		cfg:       c,
		log:       c.Logger,
		host:      host,
		underlay:  link.Attrs().Index,
		mtu:       link.Attrs().MTU - vxlanOverhead,
		sandboxes: make(map[string]*sandbox),
	}, nil
}

func openHostHandle(path string) (*netlink.Handle, error) {
	if path == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("overlay: netlink: %w", err)
		}
		return h, nil
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: HostNetnsPath %s: %w", ErrInvalidConfig, path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("overlay: netlink in %s: %w", path, err)
	}
	return h, nil
}

func linkWithAddr(h *netlink.Handle, ip net.IP) (netlink.Link, error) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("overlay: list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(ip) {
			return h.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("%w: UnderlayAddr %s is on no link of the host namespace", ErrInvalidConfig, ip)
}

// MTU is the MTU of an unencrypted network's devices: the underlay's minus
// 50; an encrypted network's is the tunnel's minus 50.
func (m *Manager) MTU() int { return m.mtu }

// Close releases the Manager's handles. Devices stay: a new Manager adopts them.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closeSandboxes()
	m.host.Close()
	return nil
}

func (m *Manager) closeSandboxes() {
	for id, sb := range m.sandboxes {
		sb.close()
		delete(m.sandboxes, id)
	}
}

// Cleanup removes every sandbox namespace with the Manager's prefix, and the
// devices in it, any VXLAN device a crash left in the host namespace, and
// the encrypted networks' rule, routes and filter.
func (m *Manager) Cleanup() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closeSandboxes()
	names, err := namedNetnsWithPrefix(m.cfg.SandboxPrefix)
	errs := []error{err}
	for _, name := range names {
		errs = append(errs, m.removeSandbox(name))
	}
	errs = append(errs, m.removeHostVXLANs(), m.removeEncrypt())
	return errors.Join(errs...)
}

func (m *Manager) removeHostVXLANs() error {
	links, err := m.host.LinkList()
	if err != nil {
		return fmt.Errorf("overlay: list host links: %w", err)
	}
	var errs []error
	for _, l := range links {
		if _, ok := l.(*netlink.Vxlan); ok && strings.HasPrefix(l.Attrs().Name, hostVXLANPrefix) {
			errs = append(errs, deleteLink(m.host, l))
		}
	}
	return errors.Join(errs...)
}

// deleteLink deletes a link; one already gone is not an error.
func deleteLink(h *netlink.Handle, l netlink.Link) error {
	if err := h.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("overlay: delete %s: %w", l.Attrs().Name, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, errNoDevice)
}
