package agent

import (
	"google.golang.org/protobuf/proto"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Tunnel is the node's WireGuard side, when its Network has one
// (core/netagent.Node with a tunnel): the agent reports the current public
// key with every session and heartbeat, and hands the session messages'
// peers over.
type Tunnel interface {
	// WireGuardPublicKey is the current key; nil without a tunnel.
	WireGuardPublicKey() []byte
	// SetWireGuardPeers applies a session message's peers: the full set
	// in a session's first message, changes afterwards.
	SetWireGuardPeers(peers []*shoalv1.WireGuardPeer, full bool) error
}

func (a *Agent) tunnel() Tunnel {
	t, _ := a.cfg.Network.(Tunnel)
	return t
}

// wireGuardKey is the key the session and heartbeats report; nil without
// a tunnel.
func (a *Agent) wireGuardKey() []byte {
	if t := a.tunnel(); t != nil {
		return t.WireGuardPublicKey()
	}
	return nil
}

// description is the node's description with its current WireGuard key.
func (a *Agent) description() *shoalv1.NodeDescription {
	key := a.wireGuardKey()
	if key == nil {
		return a.cfg.Description
	}
	d := proto.Clone(a.cfg.Description).(*shoalv1.NodeDescription)
	if d == nil {
		d = &shoalv1.NodeDescription{}
	}
	d.WireguardPublicKey = key
	return d
}

// applyWireGuardPeers hands a session message's peers to the tunnel.
func (a *Agent) applyWireGuardPeers(m *shoalv1.SessionMessage, first bool) {
	t := a.tunnel()
	if t == nil || (!first && len(m.GetWireguardPeers()) == 0) {
		return
	}
	if err := t.SetWireGuardPeers(m.GetWireguardPeers(), first); err != nil {
		a.log.Warn("wireguard peers", "err", err)
	}
}
