package overlay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
)

// Defaults of Config.
const (
	DefaultVXLANPort = 4789
	// DefaultEncryptedVXLANPort is the VXLAN port of encrypted networks:
	// their packets come in only through the tunnel link, so a port of
	// their own lets the host drop any that arrive another way.
	DefaultEncryptedVXLANPort = 4799
	DefaultSandboxPrefix      = "shoal-ov-"
	// vxlanOverhead is what VXLAN over IPv4 adds to each frame: outer IPv4
	// (20), UDP (8), VXLAN (8) and the inner Ethernet header (14).
	vxlanOverhead = 50
)

// Sentinel errors; wrapped with %w and details.
var (
	ErrInvalidConfig   = errors.New("overlay: invalid config")
	ErrNetworkNotFound = errors.New("overlay: network not set up on this node")
	ErrNoEncryption    = errors.New("overlay: encrypted network but this node has no tunnel")
)

// Config configures a Manager.
type Config struct {
	// UnderlayAddr is this node's address on the underlay; VXLAN packets are
	// sent from it, and the link holding it sets the MTU. Required.
	UnderlayAddr netip.Addr
	// VXLANPort is the UDP port of VXLAN; 0 means DefaultVXLANPort.
	VXLANPort int
	// EncryptLink is the tunnel device in the host namespace (a
	// network/wireguard Tunnel) that carries encrypted networks: their
	// VXLAN device is bound to it, so their packets to other nodes leave
	// through it only. Empty: encrypted networks are refused.
	EncryptLink string
	// EncryptedVXLANPort is the UDP port of encrypted networks' VXLAN; 0
	// means DefaultEncryptedVXLANPort. It must differ from VXLANPort.
	EncryptedVXLANPort int
	// HostNetnsPath is the namespace holding the underlay, e.g.
	// /var/run/netns/NAME; empty means the namespace of the calling process.
	HostNetnsPath string
	// SandboxPrefix names the sandbox namespaces; empty means
	// DefaultSandboxPrefix. Cleanup removes every namespace with it.
	SandboxPrefix string
	// Logger gets one line per device created or removed; nil discards.
	Logger *slog.Logger
}

// NetworkConfig describes one network on this node.
type NetworkConfig struct {
	ID      string
	VNI     int
	Subnet  netip.Prefix
	Gateway netip.Addr // optional; set on the sandbox bridge
	// Encrypted networks' traffic between nodes goes through the tunnel
	// (Config.EncryptLink), encrypted and authenticated.
	Encrypted bool
}

// EndpointConfig describes one task's attachment to a network.
type EndpointConfig struct {
	NetworkID string
	TaskID    string
	// NetnsPath is the task's namespace, e.g. /proc/PID/ns/net.
	NetnsPath string
	// Addr is the task's address with the subnet's prefix length.
	Addr netip.Prefix
	// MAC is optional; empty derives it from Addr (MACFromIP).
	MAC net.HardwareAddr
	// IfName is the interface name in the task; empty picks the first free
	// ethN with N >= 1.
	IfName string
}

// Peer is a remote task's attachment: its address and MAC, and the underlay
// address of the node it runs on.
type Peer struct {
	Addr     netip.Addr
	MAC      net.HardwareAddr
	NodeAddr netip.Addr
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

const maxVNI = 1<<24 - 1

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if !out.UnderlayAddr.IsValid() {
		return out, fmt.Errorf("%w: UnderlayAddr is required (this node's address on the underlay)", ErrInvalidConfig)
	}
	if out.VXLANPort == 0 {
		out.VXLANPort = DefaultVXLANPort
	}
	if out.VXLANPort < 1 || out.VXLANPort > 65535 {
		return out, fmt.Errorf("%w: VXLANPort %d is outside 1-65535", ErrInvalidConfig, out.VXLANPort)
	}
	if out.EncryptedVXLANPort == 0 {
		out.EncryptedVXLANPort = DefaultEncryptedVXLANPort
	}
	if out.EncryptedVXLANPort < 1 || out.EncryptedVXLANPort > 65535 || out.EncryptedVXLANPort == out.VXLANPort {
		return out, fmt.Errorf("%w: EncryptedVXLANPort %d must be in 1-65535 and differ from VXLANPort", ErrInvalidConfig, out.EncryptedVXLANPort)
	}
	if out.SandboxPrefix == "" {
		out.SandboxPrefix = DefaultSandboxPrefix
	}
	if !idPattern.MatchString(out.SandboxPrefix) {
		return out, fmt.Errorf("%w: SandboxPrefix %q must be letters, digits, '.', '_' or '-'", ErrInvalidConfig, out.SandboxPrefix)
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out, nil
}

func (n NetworkConfig) validate() error {
	if err := validateID("network ID", n.ID); err != nil {
		return err
	}
	if n.VNI < 1 || n.VNI > maxVNI {
		return fmt.Errorf("%w: network %s: VNI %d is outside 1-%d", ErrInvalidConfig, n.ID, n.VNI, maxVNI)
	}
	if !n.Subnet.IsValid() {
		return fmt.Errorf("%w: network %s: Subnet is required", ErrInvalidConfig, n.ID)
	}
	if n.Gateway.IsValid() && !n.Subnet.Contains(n.Gateway) {
		return fmt.Errorf("%w: network %s: Gateway %s is outside Subnet %s", ErrInvalidConfig, n.ID, n.Gateway, n.Subnet)
	}
	return nil
}

func (e EndpointConfig) validate() error {
	if err := validateID("network ID", e.NetworkID); err != nil {
		return err
	}
	if err := validateID("task ID", e.TaskID); err != nil {
		return err
	}
	if e.NetnsPath == "" {
		return fmt.Errorf("%w: task %s: NetnsPath is required (e.g. /proc/PID/ns/net)", ErrInvalidConfig, e.TaskID)
	}
	if !e.Addr.IsValid() {
		return fmt.Errorf("%w: task %s: Addr is required (address/prefix length)", ErrInvalidConfig, e.TaskID)
	}
	if e.MAC == nil && !e.Addr.Addr().Is4() {
		return fmt.Errorf("%w: task %s: MAC is required for a non-IPv4 Addr %s", ErrInvalidConfig, e.TaskID, e.Addr)
	}
	if len(e.IfName) > maxIfName {
		return fmt.Errorf("%w: task %s: IfName %q is longer than %d bytes", ErrInvalidConfig, e.TaskID, e.IfName, maxIfName)
	}
	return nil
}

func (p Peer) validate() error {
	if !p.Addr.IsValid() || !p.NodeAddr.IsValid() || len(p.MAC) != 6 {
		return fmt.Errorf("%w: peer %v: Addr, a 6-byte MAC and NodeAddr are required", ErrInvalidConfig, p)
	}
	return nil
}

func validateID(field, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %s %q must be letters, digits, '.', '_' or '-'", ErrInvalidConfig, field, id)
	}
	return nil
}
