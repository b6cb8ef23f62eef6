//go:build linux

package wireguard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/shoal-project/shoal/network/internal/nsexec"
)

// Tunnel is a node's userspace WireGuard device. Its methods are safe for
// concurrent use.
type Tunnel struct {
	cfg  Config
	log  *slog.Logger
	dev  *device.Device
	link netlink.Link
	mtu  int

	mu  sync.Mutex
	key PrivateKey
}

// Open creates the TUN device in the host namespace, starts WireGuard on it
// with key, listening on the port on every address, and brings the link up.
// It has no peers until SetPeers.
func Open(cfg Config, key PrivateKey) (*Tunnel, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if key.IsZero() {
		return nil, fmt.Errorf("%w: no private key (GeneratePrivateKey)", ErrInvalidConfig)
	}
	host, err := openHost(c.HostNetnsPath)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	t := &Tunnel{cfg: c, log: c.Logger, key: key}
	if t.mtu, err = underlayMTU(host, c.UnderlayAddr); err != nil {
		return nil, err
	}
	t.mtu -= Overhead
	if err := t.start(host); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	t.log.Info("wireguard: tunnel up", "link", c.LinkName, "port", c.Port, "mtu", t.mtu, "public_key", key.PublicKey())
	return t, nil
}

// start makes the TUN device and the WireGuard device inside the host
// namespace (the TUN device and the UDP sockets belong to the namespace
// they are made in), then configures the link with netlink.
func (t *Tunnel) start(host *netlink.Handle) error {
	var td tun.Device
	err := t.inHost(func() (err error) {
		td, err = tun.CreateTUN(t.cfg.LinkName, t.mtu)
		return err
	})
	if err != nil {
		return fmt.Errorf("wireguard: create TUN %s: %w", t.cfg.LinkName, err)
	}
	bind := &nsBind{Bind: conn.NewStdNetBind(), enter: t.inHost}
	t.dev = device.NewDevice(fixedMTU{td, t.mtu}, bind, wgLogger(t.log))
	conf := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", t.key.hex(), t.cfg.Port)
	if err := t.dev.IpcSet(conf); err != nil {
		return fmt.Errorf("wireguard: configure %s: %w", t.cfg.LinkName, err)
	}
	if err := t.dev.Up(); err != nil {
		return fmt.Errorf("wireguard: up: %w", err)
	}
	link, err := host.LinkByName(t.cfg.LinkName)
	if err != nil {
		return fmt.Errorf("wireguard: %s: %w", t.cfg.LinkName, err)
	}
	t.link = link
	if err := host.LinkSetTxQLen(link, txQueueLen); err != nil {
		return fmt.Errorf("wireguard: %s queue length: %w", t.cfg.LinkName, err)
	}
	if err := host.LinkSetUp(link); err != nil {
		return fmt.Errorf("wireguard: %s up: %w", t.cfg.LinkName, err)
	}
	// Decrypted packets come in on the tunnel from a peer's underlay
	// address, which the main table routes through the underlay link:
	// loose reverse-path filtering accepts them, strict would not, and
	// neither does any filtering on a link with no IPv4 address at all,
	// hence the dummy address.
	dummy := &netlink.Addr{IPNet: &net.IPNet{IP: dummyAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: int(netlink.SCOPE_LINK)}
	if err := host.AddrReplace(link, dummy); err != nil {
		return fmt.Errorf("wireguard: address %s on %s: %w", dummyAddr, t.cfg.LinkName, err)
	}
	return t.inHost(func() error { return setLooseRPFilter(t.cfg.LinkName) })
}

// dummyAddr is RFC 7600's IPv4 dummy address, for links that need an
// address but have none of their own.
var dummyAddr = netip.MustParseAddr("192.0.0.8")

// inHost runs f on a thread in the host namespace (or on the caller's when
// it is the process's own).
func (t *Tunnel) inHost(f func() error) error {
	if t.cfg.HostNetnsPath == "" {
		return f()
	}
	return nsexec.Do(t.cfg.HostNetnsPath, f)
}

// LinkName is the tunnel device's name in the host namespace.
func (t *Tunnel) LinkName() string { return t.cfg.LinkName }

// MTU is the tunnel's MTU: the underlay's minus Overhead.
func (t *Tunnel) MTU() int { return t.mtu }

// Endpoint is where peers reach this node's WireGuard.
func (t *Tunnel) Endpoint() netip.AddrPort {
	return netip.AddrPortFrom(t.cfg.UnderlayAddr, uint16(t.cfg.Port))
}

// PublicKey is the public half of the current key.
func (t *Tunnel) PublicKey() PublicKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.key.PublicKey()
}

// SetPrivateKey rotates the node's key. Sessions made with the old key end;
// each peer handshakes again once it has the new public key.
func (t *Tunnel) SetPrivateKey(key PrivateKey) error {
	if key.IsZero() {
		return fmt.Errorf("%w: no private key", ErrInvalidConfig)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.dev.IpcSet("private_key=" + key.hex() + "\n"); err != nil {
		return fmt.Errorf("wireguard: set private key: %w", err)
	}
	t.key = key
	t.log.Info("wireguard: key rotated", "public_key", key.PublicKey())
	return nil
}

// SetPeers makes the tunnel's peers exactly peers (this node's own entry
// is skipped). A peer whose key and endpoint did not change keeps its
// session.
func (t *Tunnel) SetPeers(peers []Peer) error {
	conf, err := peersConfig(t.cfg.UnderlayAddr, peers)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.dev.IpcSet(conf); err != nil {
		return fmt.Errorf("wireguard: set %d peers: %w", len(peers), err)
	}
	return nil
}

// Close stops WireGuard and removes the TUN device.
func (t *Tunnel) Close() error {
	if t.dev != nil {
		t.dev.Close() // closes the TUN device, which removes the link
	}
	return nil
}

func openHost(path string) (*netlink.Handle, error) {
	if path == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: HostNetnsPath %s: %w", ErrInvalidConfig, path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

func underlayMTU(h *netlink.Handle, addr netip.Addr) (int, error) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return 0, fmt.Errorf("wireguard: list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(net.IP(addr.AsSlice())) {
			l, err := h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return 0, fmt.Errorf("wireguard: underlay link: %w", err)
			}
			return l.Attrs().MTU, nil
		}
	}
	return 0, fmt.Errorf("%w: UnderlayAddr %s is on no link of the host namespace", ErrInvalidConfig, addr)
}
