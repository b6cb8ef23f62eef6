package allocator

import (
	"net/netip"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Every node gets its own address on the ingress network, distinct from
// the tasks', the VIPs' and each other's, and keeps it; a cluster without an
// ingress network gives none.
func TestNodesGetTheirOwnIngressAddress(t *testing.T) {
	for _, withIngress := range []bool{true, false} {
		t.Run(map[bool]string{true: "with an ingress network", false: "without"}[withIngress], func(t *testing.T) {
			h := newHarness(t)
			if withIngress {
				h.st.MustUpdate(func(tx store.Tx) error {
					return tx.Create(&shoalv1.Network{Id: "ing", Spec: &shoalv1.NetworkSpec{Name: "ingress", Ingress: true},
						Subnet: "10.255.0.0/24", Gateway: "10.255.0.1"})
				})
			} else {
				h.addNetwork("ing", "10.255.0.0/24", "10.255.0.1")
			}
			h.addService("web", 2, []string{"ing"}, port(80, 8080))
			for _, id := range []string{"n1", "n2", "n3"} {
				h.st.MustUpdate(func(tx store.Tx) error { return tx.Create(&shoalv1.Node{Id: id}) })
			}
			if _, err := h.a.Pass(h.ctx); err != nil {
				t.Fatal(err)
			}
			given, err := h.a.NodePass(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !withIngress {
				if given != 0 {
					t.Fatalf("gave %d node addresses without an ingress network", given)
				}
				return
			}
			if given != 3 {
				t.Fatalf("gave %d node addresses, want 3", given)
			}
			taken := map[netip.Addr]string{}
			claim := func(owner string, at []*shoalv1.Attachment) {
				for _, a := range at {
					for _, s := range a.GetAddresses() {
						addr := netip.MustParsePrefix(s).Addr()
						if o, dup := taken[addr]; dup {
							t.Errorf("%s holds %s of %s too", owner, addr, o)
						}
						taken[addr] = owner
					}
				}
			}
			_ = h.st.View(func(tx store.ReadTx) error {
				claim("web VIP", tx.GetService("web").GetEndpoint().GetVirtualIps())
				for _, id := range []string{"n1", "n2", "n3"} {
					if len(tx.GetNode(id).GetAttachments()) != 1 {
						t.Errorf("node %s attachments %v, want one address", id, tx.GetNode(id).GetAttachments())
					}
					claim(id, tx.GetNode(id).GetAttachments())
				}
				return tx.Range(store.KindTask, store.All(), func(o store.Object) bool {
					claim(o.GetId(), o.(*shoalv1.Task).GetNetworks())
					return true
				})
			})
			if len(taken) != 6 {
				t.Errorf("addresses %v, want 6 (a VIP, 2 tasks, 3 nodes)", taken)
			}
			if again, err := h.a.NodePass(h.ctx); err != nil || again != 0 {
				t.Errorf("a second pass gave %d (err %v), want nodes to keep theirs", again, err)
			}
		})
	}
}
