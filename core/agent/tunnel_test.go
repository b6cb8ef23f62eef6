package agent

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/dispatcher"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/poll"
	"github.com/shoal-project/shoal/runtime/sim"
)

// fakeTunnelNetwork is a network side with a WireGuard tunnel: its key is
// set by the test, the peers it is given are kept by node.
type fakeTunnelNetwork struct {
	fakeNetwork
	tmu   sync.Mutex
	key   []byte
	peers map[string][]byte
	fulls int
}

func (f *fakeTunnelNetwork) WireGuardPublicKey() []byte {
	f.tmu.Lock()
	defer f.tmu.Unlock()
	return f.key
}

func (f *fakeTunnelNetwork) setKey(b byte) {
	f.tmu.Lock()
	defer f.tmu.Unlock()
	f.key = bytes.Repeat([]byte{b}, 32)
}

func (f *fakeTunnelNetwork) SetWireGuardPeers(peers []*shoalv1.WireGuardPeer, full bool) error {
	f.tmu.Lock()
	defer f.tmu.Unlock()
	if full {
		f.peers = map[string][]byte{}
		f.fulls++
	}
	for _, p := range peers {
		f.peers[p.GetNodeId()] = p.GetPublicKey()
	}
	return nil
}

func (f *fakeTunnelNetwork) peerKey(node string) []byte {
	f.tmu.Lock()
	defer f.tmu.Unlock()
	return f.peers[node]
}

func TestWireGuardKeysTravelBetweenAgentsThroughTheDispatcher(t *testing.T) {
	m := newManager(t, dispatcher.Config{HeartbeatPeriod: 50 * time.Millisecond})
	clock := sim.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	autoAdvance(t, clock, 10*time.Millisecond)
	nets := map[string]*fakeTunnelNetwork{}
	for i, node := range []string{"n1", "n2"} {
		net := &fakeTunnelNetwork{}
		net.setKey(byte(i + 1))
		nets[node] = net
		desc := &shoalv1.NodeDescription{Hostname: node, WireguardEndpoint: "10.0.0." + string(rune('1'+i)) + ":51820"}
		cl := newClients(t, node, map[string]string{"m1": m.srv.URL})
		startAgent(t, Config{NodeID: node, Managers: []string{"m1"}, Client: cl.client, Backend: simBackend(t, clock, sim.Config{}),
			Clock: agentClock{clock}, Network: net, Description: desc})
	}
	poll.Until(t, "each agent's tunnel has the other node's key", func() bool {
		return bytes.Equal(nets["n1"].peerKey("n2"), bytes.Repeat([]byte{2}, 32)) &&
			bytes.Equal(nets["n2"].peerKey("n1"), bytes.Repeat([]byte{1}, 32))
	})
	nets["n2"].setKey(9) // the node rotated: its next heartbeat says so
	poll.Until(t, "n2's rotated key reaches n1's tunnel", func() bool {
		return bytes.Equal(nets["n1"].peerKey("n2"), bytes.Repeat([]byte{9}, 32))
	})
}
