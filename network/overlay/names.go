package overlay

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Fixed device names. Inside a sandbox every name is ours; in the host
// namespace only hostVXLANPrefix is, and only for the moment between
// creating a VXLAN device and moving it into its sandbox.
const (
	bridgeName       = "br0"
	vxlanName        = "vxlan0"
	endpointPrefix   = "vt"
	hostVXLANPrefix  = "shlvx"
	taskIfNamePrefix = "eth"
	shortIDLen       = 12
	maxIfName        = 15 // IFNAMSIZ - 1
)

// MACFromIP derives a task's MAC from its IPv4 address as Docker does:
// 02:42 (locally administered, unicast) followed by the four address bytes.
func MACFromIP(ip netip.Addr) (net.HardwareAddr, error) {
	if !ip.Is4() && !ip.Is4In6() {
		return nil, fmt.Errorf("%w: MACFromIP needs an IPv4 address, got %s", ErrInvalidConfig, ip)
	}
	b := ip.Unmap().As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}, nil
}

// sandboxName is the namespace of a network: prefix + the ID's first 12
// characters (shoal IDs are 25 random base32 characters).
func sandboxName(prefix, networkID string) string {
	return prefix + networkID[:min(len(networkID), shortIDLen)]
}

// endpointLinkName is the sandbox end of a task's veth: "vt" + 12 hex digits
// of the task ID's FNV-1a hash, so Detach needs nothing but the task ID.
func endpointLinkName(taskID string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(taskID))
	return fmt.Sprintf("%s%012x", endpointPrefix, h.Sum64()&(1<<48-1))
}

// hostVXLANName is the VXLAN device's name in the host namespace before it is
// moved into its sandbox; one VNI has one device per node.
func hostVXLANName(vni int) string {
	return hostVXLANPrefix + strconv.Itoa(vni)
}

// freeIfName returns the first ethN, N >= 1, not in taken.
func freeIfName(taken []string) string {
	used := make(map[string]bool, len(taken))
	for _, n := range taken {
		if strings.HasPrefix(n, taskIfNamePrefix) {
			used[n] = true
		}
	}
	for i := 1; ; i++ {
		if n := taskIfNamePrefix + strconv.Itoa(i); !used[n] {
			return n
		}
	}
}
