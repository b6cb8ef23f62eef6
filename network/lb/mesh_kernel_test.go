package lb_test

import (
	"net/netip"
	"testing"

	"github.com/shoal-project/shoal/network/internal/testnetns"
	"github.com/shoal-project/shoal/network/lb"
)

// meshTopology is a client, a node and a backend namespace in a line: the node
// holds the published ports and its ingress interface faces the backend
// namespace, whose two task addresses have no route back to the client (only
// the masquerade makes replies return through the node).
type meshTopology struct {
	client, node, backend *testnetns.NS
	nodeAddr              netip.Addr
}

const meshIface = "shl-ports-ing"

func newMeshTopology(t *testing.T) meshTopology {
	t.Helper()
	c := testnetns.New(t, "ports-client")
	n := testnetns.New(t, "ports-node")
	b := testnetns.New(t, "ports-backend")
	nodeAddr := netip.MustParsePrefix("10.213.80.2/24")
	testnetns.Veth(t, c, "eth0", netip.MustParsePrefix("10.213.80.1/24"), n, "eth0", nodeAddr)
	testnetns.Veth(t, n, meshIface, netip.MustParsePrefix("10.213.81.1/24"), b, "eth0", netip.PrefixFrom(meshTaskA, 24))
	b.AddAddr(t, "eth0", netip.PrefixFrom(meshTaskB, 24))
	for _, addr := range []netip.Addr{meshTaskA, meshTaskB} {
		serveTCPName(t, b, netip.AddrPortFrom(addr, backendPort))
		serveUDPName(t, b, netip.AddrPortFrom(addr, backendPort))
	}
	return meshTopology{client: c, node: n, backend: b, nodeAddr: nodeAddr.Addr()}
}

// The mesh topology's tasks, on 10.213.81.0/24.
var (
	meshTaskA = netip.MustParseAddr("10.213.81.2")
	meshTaskB = netip.MustParseAddr("10.213.81.3")
)

func TestMeshForwardsPublishedPortsToEveryBackend(t *testing.T) {
	tp := newMeshTopology(t)
	m := lb.OpenMesh(tp.node.Path, nil)
	t.Cleanup(func() { _ = m.Close() })
	web := func(backends ...netip.Addr) []lb.Published {
		return []lb.Published{{Name: "web", Backends: backends, Ports: []lb.Port{
			{Protocol: lb.TCP, Port: vipPort, TargetPort: backendPort}, {Protocol: lb.UDP, Port: vipPort, TargetPort: backendPort}}}}
	}
	if err := m.Sync(meshIface, web(meshTaskA, meshTaskB)); err != nil {
		t.Fatal(err)
	}
	client := topology{client: tp.client}
	for _, proto := range []lb.Protocol{lb.TCP, lb.UDP} {
		t.Run(string(proto)+" from another host reaches both tasks", func(t *testing.T) {
			const n = 40
			got := client.connectPort(t, proto, netip.AddrPortFrom(tp.nodeAddr, vipPort), n)
			if got[meshTaskA.String()] < n/4 || got[meshTaskB.String()] < n/4 {
				t.Errorf("answers = %v, want both of %s and %s", got, meshTaskA, meshTaskB)
			}
		})
	}
	t.Run("from the node itself", func(t *testing.T) {
		got := topology{client: tp.node}.connectPort(t, lb.TCP, netip.AddrPortFrom(tp.nodeAddr, vipPort), 10)
		if got[meshTaskA.String()]+got[meshTaskB.String()] != 10 {
			t.Errorf("answers = %v, want 10 from the backends", got)
		}
	})
	t.Run("a removed backend gets no more connections", func(t *testing.T) {
		if err := m.Sync(meshIface, web(meshTaskB)); err != nil {
			t.Fatal(err)
		}
		if got := client.connectPort(t, lb.TCP, netip.AddrPortFrom(tp.nodeAddr, vipPort), 20); got[meshTaskB.String()] != 20 {
			t.Errorf("answers = %v, want all 20 from %s", got, meshTaskB)
		}
	})
	t.Run("no backend: the node refuses", func(t *testing.T) {
		if err := m.Sync(meshIface, web()); err != nil {
			t.Fatal(err)
		}
		client.expectRefused(t, lb.TCP, netip.AddrPortFrom(tp.nodeAddr, vipPort))
	})
	t.Run("close removes the table", func(t *testing.T) {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		for _, name := range tableNames(t, tp.node) {
			if name == lb.MeshTableName {
				t.Errorf("table %s still there after Close", name)
			}
		}
	})
}
