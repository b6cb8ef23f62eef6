package netagent

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/lb"
)

func ingressNet(ports ...lb.Port) Network {
	return Network{ID: "ing", Name: "ingress", VNI: 4096, Subnet: prefix("10.255.0.0/16"), Ingress: true, VIPs: []VIP{
		{ServiceID: "id-web", ServiceName: "web", Addr: addr("10.255.0.2"), Ports: ports},
	}}
}

var web8080 = lb.Port{Protocol: lb.TCP, Port: 8080, TargetPort: 80}

func TestNodeJoinsTheMeshPublishesItsPortsAndLeaves(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	node := prefix("10.255.0.9/16")
	if err := h.agent.SetIngressAddr(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := h.agent.SetNetworks(ctx, []Network{ingressNet()}); err != nil {
		t.Fatal(err)
	}
	h.expect() // no published port: the node stays out

	if err := h.agent.SetNetworks(ctx, []Network{ingressNet(web8080)}); err != nil {
		t.Fatal(err)
	}
	h.expect("ensure ing vni=4096", "attach ing ingress-10.255.0.9 10.255.0.9/16 /node",
		"publish ing ingress-10.255.0.9 10.255.0.9/16 ", "mesh-open /node",
		"mesh-sync shoal-ingress [web[{tcp 8080 80}]->[]]", "peers ing 0")

	// One change at a time: the agent may handle the first before the
	// second arrives (CI saw "peers ing 1" then "peers ing 2").
	h.gossip.changes <- gossip.Change{Kind: gossip.Added, Entry: entry("ing", "w1", "web", "10.255.0.5", "192.0.2.2")}
	h.expect("mesh-sync shoal-ingress [web[{tcp 8080 80}]->[10.255.0.5]]", "peers ing 1")
	// Another service's task on the ingress network is a peer, not a backend.
	h.gossip.changes <- gossip.Change{Kind: gossip.Added, Entry: entry("ing", "x1", "other", "10.255.0.6", "192.0.2.2")}
	h.expect("peers ing 2")

	if err := h.agent.SetNetworks(ctx, []Network{ingressNet()}); err != nil {
		t.Fatal(err)
	}
	h.expect("mesh-close", "withdraw ingress-10.255.0.9", "detach ing ingress-10.255.0.9", "remove-network ing")
}

func TestPublishedBackendsAreTheServicesTasksOnTheIngressNetwork(t *testing.T) {
	entries := map[entryKey]gossip.Entry{}
	for _, e := range []gossip.Entry{
		entry("ing", "w2", "web", "10.255.0.7", "192.0.2.3"),
		entry("ing", "w1", "web", "10.255.0.5", "192.0.2.2"),
		entry("front", "w1", "web", "10.0.1.5", "192.0.2.2"), // another network
		entry("ing", "ingress-10.255.0.9", "", "10.255.0.9", "192.0.2.4"),
	} {
		entries[entryKey{e.NetworkID, e.TaskID}] = e
	}
	tests := []struct {
		name string
		net  Network
		want []lb.Published
	}{
		{"a VIP without ports publishes nothing", ingressNet(), nil},
		{"the service's tasks on the network, by address", ingressNet(web8080), []lb.Published{
			{Name: "web", Ports: []lb.Port{web8080}, Backends: []netip.Addr{addr("10.255.0.5"), addr("10.255.0.7")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := published(tt.net, entries)
			if len(got) != len(tt.want) {
				t.Fatalf("published = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Name != tt.want[i].Name || !slices.Equal(got[i].Backends, tt.want[i].Backends) {
					t.Errorf("published[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLosingTheIngressAddressLeavesTheMesh(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	if err := h.agent.SetIngressAddr(ctx, prefix("10.255.0.9/16")); err != nil {
		t.Fatal(err)
	}
	if err := h.agent.SetNetworks(ctx, []Network{ingressNet(web8080)}); err != nil {
		t.Fatal(err)
	}
	h.sync()
	h.rec.take()
	if err := h.agent.SetIngressAddr(ctx, netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	h.expect("mesh-close", "withdraw ingress-10.255.0.9", "detach ing ingress-10.255.0.9", "remove-network ing")
}
