//go:build linux

package netagent

import (
	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/overlay"
	"github.com/shoal-project/shoal/network/wireguard"
)

// The node's real pieces fit the interfaces.
var (
	_ Dataplane = (*overlay.Manager)(nil)
	_ Gossip    = (*gossip.Member)(nil)
	_ Tunnel    = (*wireguard.Tunnel)(nil)
)
