package dispatcher

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// WireGuard peers: each node reports its tunnel's public key and endpoint
// in its session's description, and a rotated key in its heartbeats, all
// under its certificate. Every session gets the other nodes' tunnels in
// its first message and, whenever one changes, joins or leaves, the
// difference (a removed peer has no key).

// wgKeySize is a Curve25519 public key's size.
const wgKeySize = 32

// wgPeer is one node's tunnel.
type wgPeer struct {
	key      []byte
	endpoint string
}

// wgPeerOf reads a description's tunnel; a malformed one counts as none.
func wgPeerOf(desc *shoalv1.NodeDescription) wgPeer {
	p := wgPeer{key: desc.GetWireguardPublicKey(), endpoint: desc.GetWireguardEndpoint()}
	if !p.valid() {
		return wgPeer{}
	}
	return p
}

func (p wgPeer) valid() bool {
	ap, err := netip.ParseAddrPort(p.endpoint)
	return len(p.key) == wgKeySize && err == nil && ap.Port() != 0
}

// setWireGuardKeyLocked records a node's rotated key and wakes the other
// sessions. d.mu is held.
func (d *Dispatcher) setWireGuardKeyLocked(nodeID string, e *nodeEntry, key []byte) {
	if len(key) != wgKeySize || bytes.Equal(key, e.wg.key) || e.wg.endpoint == "" {
		return
	}
	e.wg.key = bytes.Clone(key)
	d.log.Info("node rotated its WireGuard key", "node", nodeID)
	d.signalOthersLocked(nodeID)
}

// signalOthersLocked wakes every session but nodeID's. d.mu is held.
func (d *Dispatcher) signalOthersLocked(nodeID string) {
	for _, s := range d.sessions {
		if s.nodeID != nodeID {
			signal(s.notify)
		}
	}
}

// wireGuardPeersLocked is the tunnels of the nodes with a session, but
// nodeID's. d.mu is held.
func (d *Dispatcher) wireGuardPeersLocked(nodeID string) map[string]wgPeer {
	out := make(map[string]wgPeer, len(d.peers.wg))
	for id := range d.peers.wg {
		if id != nodeID {
			out[id] = d.nodes[id].wg
		}
	}
	return out
}

// wireGuardChanges lists the peers of cur that sent lacks or has
// otherwise, and those of sent that cur lacks (with no key), by node ID.
func wireGuardChanges(sent, cur map[string]wgPeer) []*shoalv1.WireGuardPeer {
	var out []*shoalv1.WireGuardPeer
	for id, p := range cur {
		if old, ok := sent[id]; !ok || !bytes.Equal(old.key, p.key) || old.endpoint != p.endpoint {
			out = append(out, &shoalv1.WireGuardPeer{NodeId: id, PublicKey: p.key, Endpoint: p.endpoint})
		}
	}
	for id := range sent {
		if _, ok := cur[id]; !ok {
			out = append(out, &shoalv1.WireGuardPeer{NodeId: id})
		}
	}
	slices.SortFunc(out, func(a, b *shoalv1.WireGuardPeer) int { return strings.Compare(a.GetNodeId(), b.GetNodeId()) })
	return out
}
