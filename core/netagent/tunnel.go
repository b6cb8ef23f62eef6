package netagent

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/network/wireguard"
)

// DefaultKeyRotation is how often a node makes a new WireGuard key (swarm
// rotates its overlay's IPsec keys every 12 h).
const DefaultKeyRotation = 12 * time.Hour

// Tunnel is the node's WireGuard tunnel (network/wireguard.Tunnel).
type Tunnel interface {
	Endpoint() netip.AddrPort
	PublicKey() wireguard.PublicKey
	SetPrivateKey(wireguard.PrivateKey) error
	SetPeers([]wireguard.Peer) error
}

// tunnelPeers keeps the other nodes' tunnels by node ID, as the session
// messages give them. Node.mu guards it.
type tunnelPeers map[string]wireguard.Peer

// apply folds a session message's peers in: the full set replaces what
// was there, changes update it, a peer with no key is removed.
func (tp tunnelPeers) apply(peers []*shoalv1.WireGuardPeer, full bool) error {
	if full {
		clear(tp)
	}
	for _, p := range peers {
		if len(p.GetPublicKey()) == 0 {
			delete(tp, p.GetNodeId())
			continue
		}
		key, err := wireguard.ParsePublicKey(p.GetPublicKey())
		if err != nil {
			return fmt.Errorf("netagent: node %s's WireGuard key: %w", p.GetNodeId(), err)
		}
		ep, err := netip.ParseAddrPort(p.GetEndpoint())
		if err != nil {
			return fmt.Errorf("netagent: node %s's WireGuard endpoint %q: %w", p.GetNodeId(), p.GetEndpoint(), err)
		}
		tp[p.GetNodeId()] = wireguard.Peer{PublicKey: key, Endpoint: ep}
	}
	return nil
}

// list returns the peers sorted by node ID, leaving out every node that
// claims an address another node claims too (one node's report must not
// take over another's traffic); their IDs come back in conflicts.
func (tp tunnelPeers) list() (peers []wireguard.Peer, conflicts []string) {
	byAddr := map[netip.Addr][]string{}
	for id, p := range tp {
		byAddr[p.Endpoint.Addr()] = append(byAddr[p.Endpoint.Addr()], id)
	}
	ids := sortedKeys(tp)
	for _, id := range ids {
		if len(byAddr[tp[id].Endpoint.Addr()]) > 1 {
			conflicts = append(conflicts, id)
			continue
		}
		peers = append(peers, tp[id])
	}
	return peers, conflicts
}

// WireGuardPublicKey is the node's current public key; nil without a
// tunnel (core/agent.Tunnel).
func (n *Node) WireGuardPublicKey() []byte {
	if n.cfg.Tunnel == nil {
		return nil
	}
	return n.cfg.Tunnel.PublicKey().Bytes()
}

// WireGuardEndpoint is where peers reach the node's tunnel (ip:port);
// empty without one.
func (n *Node) WireGuardEndpoint() string {
	if n.cfg.Tunnel == nil {
		return ""
	}
	return n.cfg.Tunnel.Endpoint().String()
}

// SetWireGuardPeers applies a session message's peers to the tunnel
// (core/agent.Tunnel).
func (n *Node) SetWireGuardPeers(peers []*shoalv1.WireGuardPeer, full bool) error {
	if n.cfg.Tunnel == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.tunnelPeers.apply(peers, full); err != nil {
		return err
	}
	list, conflicts := n.tunnelPeers.list()
	if len(conflicts) > 0 {
		n.log.Warn("netagent: nodes claim the same WireGuard address; none of them is a peer", "nodes", strings.Join(conflicts, ","))
	}
	if err := n.cfg.Tunnel.SetPeers(list); err != nil {
		return fmt.Errorf("netagent: WireGuard peers: %w", err)
	}
	return nil
}

// RotateKey gives the tunnel a new private key; the next heartbeat reports
// its public half, and peers handshake again once they have it.
func (n *Node) RotateKey() error {
	key, err := wireguard.GeneratePrivateKey(n.cfg.Rand)
	if err != nil {
		return err
	}
	return n.cfg.Tunnel.SetPrivateKey(key)
}

// rotateKeys rotates the key every KeyRotation until stop closes.
func (n *Node) rotateKeys(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-n.cfg.Clock.After(n.cfg.KeyRotation):
			if err := n.RotateKey(); err != nil {
				n.log.Warn("netagent: WireGuard key rotation", "err", err)
			}
		}
	}
}

func (c *NodeConfig) tunnelDefaults() {
	if c.KeyRotation <= 0 {
		c.KeyRotation = DefaultKeyRotation
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
}
