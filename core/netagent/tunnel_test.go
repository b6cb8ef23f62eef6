package netagent

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/core/gossip"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/network/overlay"
	"github.com/shoal-project/shoal/network/wireguard"
)

// fakeTunnel records the peers and keys it is given.
type fakeTunnel struct {
	key   wireguard.PrivateKey
	peers []wireguard.Peer
}

func (f *fakeTunnel) Endpoint() netip.AddrPort {
	return netip.MustParseAddrPort("10.0.0.1:51820")
}
func (f *fakeTunnel) PublicKey() wireguard.PublicKey             { return f.key.PublicKey() }
func (f *fakeTunnel) SetPrivateKey(k wireguard.PrivateKey) error { f.key = k; return nil }
func (f *fakeTunnel) SetPeers(p []wireguard.Peer) error          { f.peers = p; return nil }

func newTunnelNode(t *testing.T) (*Node, *fakeTunnel) {
	t.Helper()
	key, err := wireguard.GeneratePrivateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tun := &fakeTunnel{key: key}
	rec := &recorder{}
	n, err := NewNode(NodeConfig{
		Dataplane: &fakeDataplane{rec: rec, peers: map[string][]overlay.Peer{}},
		OpenTask:  func(p string) (TaskNet, error) { return &fakeTaskNet{rec: rec, path: p}, nil },
		NewMember: func([][]byte) (Member, error) {
			return &fakeMember{fakeGossip: fakeGossip{rec: rec, changes: make(chan gossip.Change)}}, nil
		},
		Tunnel: tun,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n, tun
}

func wgPeer(node string, key byte, endpoint string) *shoalv1.WireGuardPeer {
	return &shoalv1.WireGuardPeer{NodeId: node, PublicKey: bytes.Repeat([]byte{key}, 32), Endpoint: endpoint}
}

// endpoints lists the tunnel's peers by endpoint and first key byte.
func endpoints(peers []wireguard.Peer) []string {
	var out []string
	for _, p := range peers {
		out = append(out, p.Endpoint.String()+"/"+string('0'+p.PublicKey[0]))
	}
	return out
}

// peerStep is one session message's peers.
type peerStep struct {
	peers []*shoalv1.WireGuardPeer
	full  bool
}

func TestNodeProgramsTheTunnelFromSessionPeers(t *testing.T) {
	tests := []struct {
		name  string
		steps []peerStep
		want  []string
	}{
		{name: "full set", want: []string{"10.0.0.2:51820/1", "10.0.0.3:51820/2"},
			steps: []peerStep{{peers: []*shoalv1.WireGuardPeer{wgPeer("b", 1, "10.0.0.2:51820"), wgPeer("c", 2, "10.0.0.3:51820")}, full: true}}},
		{name: "a rotated key and a node gone", want: []string{"10.0.0.2:51820/5"},
			steps: []peerStep{
				{peers: []*shoalv1.WireGuardPeer{wgPeer("b", 1, "10.0.0.2:51820"), wgPeer("c", 2, "10.0.0.3:51820")}, full: true},
				{peers: []*shoalv1.WireGuardPeer{wgPeer("b", 5, "10.0.0.2:51820"), {NodeId: "c"}}},
			}},
		{name: "a new session's full set replaces the old", want: []string{"10.0.0.4:51820/3"},
			steps: []peerStep{
				{peers: []*shoalv1.WireGuardPeer{wgPeer("b", 1, "10.0.0.2:51820")}, full: true},
				{peers: []*shoalv1.WireGuardPeer{wgPeer("d", 3, "10.0.0.4:51820")}, full: true},
			}},
		{name: "two nodes claiming one address are both left out", want: []string{"10.0.0.3:51820/2"},
			steps: []peerStep{{peers: []*shoalv1.WireGuardPeer{wgPeer("b", 1, "10.0.0.2:51820"), wgPeer("c", 2, "10.0.0.3:51820"),
				wgPeer("evil", 4, "10.0.0.2:51821")}, full: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, tun := newTunnelNode(t)
			for _, s := range tt.steps {
				if err := n.SetWireGuardPeers(s.peers, s.full); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, endpoints(tun.peers)); diff != "" {
				t.Fatalf("tunnel peers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeRefusesMalformedPeer(t *testing.T) {
	n, _ := newTunnelNode(t)
	for _, p := range []*shoalv1.WireGuardPeer{wgPeer("b", 1, "no-port"), {NodeId: "b", PublicKey: []byte{1}, Endpoint: "10.0.0.2:1"}} {
		if err := n.SetWireGuardPeers([]*shoalv1.WireGuardPeer{p}, true); err == nil {
			t.Errorf("peer %v accepted", p)
		}
	}
}

func TestRotateKeyChangesThePublicKeyReported(t *testing.T) {
	n, _ := newTunnelNode(t)
	before := n.WireGuardPublicKey()
	if len(before) != 32 {
		t.Fatalf("public key is %d bytes, want 32", len(before))
	}
	if err := n.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if after := n.WireGuardPublicKey(); slices.Equal(after, before) {
		t.Fatal("the reported key did not change")
	}
}

func TestNetworksFromAssignmentsKeepsEncrypted(t *testing.T) {
	nets, err := NetworksFromAssignments([]*shoalv1.NetworkAssignment{{Id: "n1", Name: "sec", Vni: 4096, Subnet: "10.0.1.0/24", Encrypted: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !nets[0].Encrypted || nets[0].Subnet != netip.MustParsePrefix("10.0.1.0/24") {
		t.Fatalf("network = %+v, want encrypted 10.0.1.0/24", nets[0])
	}
}
