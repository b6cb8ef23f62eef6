package dispatcher

import (
	"bytes"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func TestWireGuardChanges(t *testing.T) {
	k := func(b byte) []byte { return bytes.Repeat([]byte{b}, wgKeySize) }
	a1 := wgPeer{key: k(1), endpoint: "10.0.0.1:51820"}
	a2 := wgPeer{key: k(2), endpoint: "10.0.0.1:51820"}
	b := wgPeer{key: k(3), endpoint: "10.0.0.2:51820"}
	tests := []struct {
		name      string
		sent, cur map[string]wgPeer
		want      []*shoalv1.WireGuardPeer
	}{
		{name: "first message: every peer", cur: map[string]wgPeer{"a": a1, "b": b},
			want: []*shoalv1.WireGuardPeer{{NodeId: "a", PublicKey: k(1), Endpoint: a1.endpoint}, {NodeId: "b", PublicKey: k(3), Endpoint: b.endpoint}}},
		{name: "nothing changed: nothing sent", sent: map[string]wgPeer{"a": a1}, cur: map[string]wgPeer{"a": a1}},
		{name: "rotated key", sent: map[string]wgPeer{"a": a1, "b": b}, cur: map[string]wgPeer{"a": a2, "b": b},
			want: []*shoalv1.WireGuardPeer{{NodeId: "a", PublicKey: k(2), Endpoint: a2.endpoint}}},
		{name: "node gone: sent without a key", sent: map[string]wgPeer{"a": a1, "b": b}, cur: map[string]wgPeer{"b": b},
			want: []*shoalv1.WireGuardPeer{{NodeId: "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, wireGuardChanges(tt.sent, tt.cur), protocmp.Transform()); diff != "" {
				t.Fatalf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSessionsGetOtherNodesWireGuardKeysAndRotations(t *testing.T) {
	h := newHarness(t, Config{})
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, wgKeySize) }
	open := func(node string, k []byte, endpoint string) (*shoalv1.SessionMessage, *connect.ServerStreamForClient[shoalv1.SessionMessage]) {
		stream, err := h.client(node).Session(h.ctx, connect.NewRequest(&shoalv1.SessionRequest{AgentVersion: Version,
			Description: &shoalv1.NodeDescription{Hostname: node, WireguardPublicKey: k, WireguardEndpoint: endpoint}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stream.Close() })
		if !stream.Receive() {
			t.Fatalf("session %s: no first message: %v", node, stream.Err())
		}
		return stream.Msg(), stream
	}
	nextPeers := func(s *connect.ServerStreamForClient[shoalv1.SessionMessage]) []*shoalv1.WireGuardPeer {
		t.Helper()
		for s.Receive() {
			if p := s.Msg().GetWireguardPeers(); len(p) > 0 {
				return p
			}
		}
		t.Fatalf("session stream ended: %v", s.Err())
		return nil
	}
	want := func(node string, k []byte, endpoint string) []*shoalv1.WireGuardPeer {
		return []*shoalv1.WireGuardPeer{{NodeId: node, PublicKey: k, Endpoint: endpoint}}
	}

	first, s1 := open("n1", key(1), "10.0.0.1:51820")
	if len(first.GetWireguardPeers()) != 0 {
		t.Fatalf("first node got peers %v, want none", first.GetWireguardPeers())
	}
	second, s2 := open("n2", key(2), "10.0.0.2:51820")
	if diff := cmp.Diff(want("n1", key(1), "10.0.0.1:51820"), second.GetWireguardPeers(), protocmp.Transform()); diff != "" {
		t.Fatalf("second node's first message (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want("n2", key(2), "10.0.0.2:51820"), nextPeers(s1), protocmp.Transform()); diff != "" {
		t.Fatalf("first node told of the second (-want +got):\n%s", diff)
	}

	_, err := h.client("n1").Heartbeat(h.ctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: first.GetSessionId(), WireguardPublicKey: key(9)}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want("n1", key(9), "10.0.0.1:51820"), nextPeers(s2), protocmp.Transform()); diff != "" {
		t.Fatalf("second node told of the first's rotation (-want +got):\n%s", diff)
	}
}

func TestMalformedWireGuardDescriptionIsNoPeer(t *testing.T) {
	for _, d := range []*shoalv1.NodeDescription{
		{WireguardPublicKey: make([]byte, 31), WireguardEndpoint: "10.0.0.1:51820"},
		{WireguardPublicKey: make([]byte, 32), WireguardEndpoint: "10.0.0.1"},
		{WireguardPublicKey: make([]byte, 32), WireguardEndpoint: "host:51820"},
	} {
		if p := wgPeerOf(d); p.valid() {
			t.Errorf("description %v made a valid peer", d)
		}
	}
}
