//go:build linux

package node

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/core/netagent"
	"github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/lb"
	"github.com/shoal-project/shoal/network/overlay"
	"github.com/shoal-project/shoal/network/wireguard"
)

// newClusterNetwork builds the node's cluster-network side (overlay, gossip,
// DNS, VIP load balancing, the routing mesh's published ports) for a root
// containerd node. It returns nil and
// the reason when the node cannot have one; the node then runs without
// cluster networks and refuses tasks that ask for them.
func (n *Node) newClusterNetwork() (*netagent.Node, string, error) {
	if n.st.Backend != "containerd" {
		return nil, "", fmt.Errorf("backend %s has no network namespaces (cluster networks need --backend containerd)", n.st.Backend)
	}
	if os.Geteuid() != 0 {
		return nil, "", fmt.Errorf("cluster networks need root")
	}
	host, _, err := net.SplitHostPort(n.st.AdvertiseAddr)
	underlay, perr := netip.ParseAddr(host)
	if err != nil || perr != nil {
		return nil, "", fmt.Errorf("the node's advertise address %q is not ip:port: give --advertise-addr (the overlay's underlay address)", n.st.AdvertiseAddr)
	}
	port := n.cfg.GossipPort
	if port == 0 {
		port = DefaultGossipPort
	}
	gossipAddr := net.JoinHostPort(underlay.String(), strconv.Itoa(port))
	log := n.log.With("component", "network")
	tunnel := n.openTunnel(underlay, log)
	ovCfg := overlay.Config{UnderlayAddr: underlay, SandboxPrefix: sandboxPrefix(n.st.NodeID), Logger: log}
	var nodeTunnel netagent.Tunnel // a nil interface without a tunnel
	if tunnel != nil {
		ovCfg.EncryptLink, nodeTunnel = tunnel.LinkName(), tunnel
	}
	dp, err := overlay.New(ovCfg)
	if err != nil {
		if tunnel != nil {
			_ = tunnel.Close()
		}
		return nil, "", err
	}
	resolv, err := dns.ReadHostResolvConf("/etc/resolv.conf")
	if err != nil {
		log.Warn("host resolvers unknown: names outside the cluster will not resolve in tasks", "err", err)
	}
	nn, err := netagent.NewNode(netagent.NodeConfig{
		Dataplane: dp,
		OpenTask:  netagent.NamespaceOpener(resolv.Upstreams, resolv.Search, log),
		Search:    resolv.Search,
		OpenMesh:  func(path string) netagent.Mesh { return lb.OpenMesh(path, log) },
		NewMember: func(keys [][]byte) (netagent.Member, error) {
			return gossip.New(gossip.Config{NodeID: n.st.NodeID, BindAddr: gossipAddr, AdvertiseAddr: gossipAddr,
				UnderlayAddr: underlay, Keys: keys, Logger: log, Liveness: n.gossipVerdict})
		},
		Tunnel:      nodeTunnel,
		KeyRotation: n.cfg.WireGuardKeyRotation,
		Logger:      log,
	})
	if err != nil {
		return nil, "", err
	}
	return nn, gossipAddr, nil
}

// openTunnel starts the node's WireGuard tunnel for encrypted networks
// with a new key; nil (and a warning) when it cannot: the node then runs
// without encrypted networks.
func (n *Node) openTunnel(underlay netip.Addr, log *slog.Logger) *wireguard.Tunnel {
	key, err := wireguard.GeneratePrivateKey(rand.Reader)
	if err == nil {
		var t *wireguard.Tunnel
		if t, err = wireguard.Open(wireguard.Config{UnderlayAddr: underlay, Port: n.cfg.WireGuardPort, Logger: log}, key); err == nil {
			return t
		}
	}
	log.Warn("no WireGuard tunnel: tasks on encrypted networks cannot run on this node", "err", err)
	return nil
}

// sandboxPrefix names this node's overlay sandboxes, so that several nodes
// sharing a host's /var/run/netns (test hosts) never share one.
func sandboxPrefix(nodeID string) string {
	return "shoal-ov-" + nodeID[:min(len(nodeID), 8)] + "-"
}
