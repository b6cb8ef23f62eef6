package wireguard

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
)

// Defaults of Config.
const (
	DefaultLinkName = "shoalwg0"
	DefaultPort     = 51820
	// Overhead is what WireGuard adds to each packet over an IPv6 underlay
	// (40 IPv6 + 8 UDP + 32 WireGuard), wg-quick's margin; over IPv4 it is
	// 60, so an IPv4 underlay leaves 20 bytes unused.
	Overhead = 80
	// keepalive keeps a peer's session and any NAT state warm (seconds).
	keepalive = 25
	// txQueueLen is the TUN device's queue: at the default 500 a TCP
	// stream over an encrypted network overflowed it whenever WireGuard's
	// goroutines waited for a CPU (1-3 % of the packets dropped and
	// throughput down by a third to a half on the loaded test machine);
	// at 5000 none were dropped.
	txQueueLen = 5000
)

// ErrInvalidConfig: a Config or Peer that cannot work; wrapped with the field.
var ErrInvalidConfig = errors.New("wireguard: invalid config")

// Config configures a Tunnel.
type Config struct {
	// UnderlayAddr is this node's underlay address: the link holding it
	// sets the tunnel's MTU (its MTU minus Overhead). Required.
	UnderlayAddr netip.Addr
	// LinkName names the TUN device; empty means DefaultLinkName.
	LinkName string
	// Port is the UDP port WireGuard listens on; 0 means DefaultPort.
	Port int
	// HostNetnsPath is the namespace holding the underlay, e.g.
	// /var/run/netns/NAME; empty means the namespace of the process.
	HostNetnsPath string
	// Logger gets WireGuard's errors and one line per key or peer change;
	// nil discards.
	Logger *slog.Logger
}

// Peer is another node: its public key and where its WireGuard listens.
// Its underlay address (Endpoint's) is the peer's only allowed IP.
type Peer struct {
	PublicKey PublicKey
	Endpoint  netip.AddrPort
}

func (c Config) withDefaults() (Config, error) {
	if !c.UnderlayAddr.IsValid() {
		return c, fmt.Errorf("%w: UnderlayAddr is required (this node's underlay address)", ErrInvalidConfig)
	}
	if c.LinkName == "" {
		c.LinkName = DefaultLinkName
	}
	if len(c.LinkName) > 15 {
		return c, fmt.Errorf("%w: LinkName %q is longer than 15 bytes", ErrInvalidConfig, c.LinkName)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("%w: Port %d is outside 1-65535", ErrInvalidConfig, c.Port)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (p Peer) validate() error {
	if !p.Endpoint.IsValid() || p.Endpoint.Port() == 0 {
		return fmt.Errorf("%w: peer %s: Endpoint must be address:port", ErrInvalidConfig, p.PublicKey)
	}
	if p.PublicKey == (PublicKey{}) {
		return fmt.Errorf("%w: peer at %s: PublicKey is required", ErrInvalidConfig, p.Endpoint)
	}
	return nil
}

// peersConfig is the configuration-protocol text (wireguard-go's IpcSet,
// the "set" of wg(8)'s UAPI) that makes the device's peers exactly peers,
// skipping this node's own endpoint. Two peers may not share an address
// (each is the only allowed IP of its peer): such a list is refused.
func peersConfig(self netip.Addr, peers []Peer) (string, error) {
	var b strings.Builder
	b.WriteString("replace_peers=true\n")
	seen := map[netip.Addr]bool{}
	sorted := slices.Clone(peers)
	slices.SortStableFunc(sorted, func(a, b Peer) int { return a.Endpoint.Compare(b.Endpoint) })
	for _, p := range sorted {
		if err := p.validate(); err != nil {
			return "", err
		}
		addr := p.Endpoint.Addr().Unmap()
		if addr == self {
			continue
		}
		if seen[addr] {
			return "", fmt.Errorf("%w: two peers at %s", ErrInvalidConfig, addr)
		}
		seen[addr] = true
		fmt.Fprintf(&b, "public_key=%s\nendpoint=%s\npersistent_keepalive_interval=%d\nreplace_allowed_ips=true\nallowed_ip=%s\n",
			p.PublicKey.hex(), netip.AddrPortFrom(addr, p.Endpoint.Port()), keepalive, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return b.String(), nil
}
