package api

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

func createNetwork(t *testing.T, s *Server, sp *shoalv1.NetworkSpec) *shoalv1.Network {
	t.Helper()
	res, err := s.CreateNetwork(context.Background(), connect.NewRequest(&shoalv1.CreateNetworkRequest{Spec: sp}))
	if err != nil {
		t.Fatalf("create network %v: %v", sp, err)
	}
	return res.Msg.GetNetwork()
}

func countNetworks(st *store.Store) int {
	n := 0
	_ = st.View(func(tx store.ReadTx) error { n, _ = tx.Count(store.KindNetwork, store.All()); return nil })
	return n
}

func TestCreateNetworkRefusesBadInputAndStoresNothing(t *testing.T) {
	s, st, _ := newTestServer(t)
	createNetwork(t, s, &shoalv1.NetworkSpec{Name: "taken", Subnet: "10.9.0.0/16"})
	for _, tc := range []struct {
		name  string
		spec  *shoalv1.NetworkSpec
		code  connect.Code
		field string
	}{
		{"no spec", nil, connect.CodeInvalidArgument, "spec"},
		{"name not a DNS label", &shoalv1.NetworkSpec{Name: "my_net"}, connect.CodeInvalidArgument, "spec.name"},
		{"name too long", &shoalv1.NetworkSpec{Name: strings.Repeat("a", 64)}, connect.CodeInvalidArgument, "spec.name"},
		{"name reserved", &shoalv1.NetworkSpec{Name: "host"}, connect.CodeInvalidArgument, "spec.name"},
		{"name taken", &shoalv1.NetworkSpec{Name: "taken"}, connect.CodeAlreadyExists, "spec.name"},
		{"unknown driver", &shoalv1.NetworkSpec{Name: "n", Driver: "bridge"}, connect.CodeInvalidArgument, "spec.driver"},
		{"subnet not a CIDR", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.1.2.0"}, connect.CodeInvalidArgument, "spec.subnet"},
		{"subnet IPv6", &shoalv1.NetworkSpec{Name: "n", Subnet: "fd00::/64"}, connect.CodeInvalidArgument, "spec.subnet"},
		{"subnet /31", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.1.2.0/31"}, connect.CodeInvalidArgument, "/31"},
		{"subnet larger than /8", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.0.0.0/7"}, connect.CodeInvalidArgument, "spec.subnet"},
		{"subnet host bits set", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.1.2.3/24"}, connect.CodeInvalidArgument, "10.1.2.0/24"},
		{"subnet overlaps a network", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.9.4.0/24"}, connect.CodeInvalidArgument, `network "taken"`},
		{"subnet overlaps the node bridges", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.88.3.0/24"}, connect.CodeInvalidArgument, "node-local"},
		{"gateway outside the subnet", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.1.2.0/24", Gateway: "10.1.3.1"}, connect.CodeInvalidArgument, "spec.gateway"},
		{"gateway is the network address", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.1.2.0/24", Gateway: "10.1.2.0"}, connect.CodeInvalidArgument, "spec.gateway"},
		{"gateway not an address", &shoalv1.NetworkSpec{Name: "n", Subnet: "10.1.2.0/24", Gateway: "gw"}, connect.CodeInvalidArgument, "spec.gateway"},
		{"gateway without subnet", &shoalv1.NetworkSpec{Name: "n", Gateway: "10.1.2.1"}, connect.CodeInvalidArgument, "spec.subnet"},
		{"bad label", &shoalv1.NetworkSpec{Name: "n", Labels: map[string]string{"": "x"}}, connect.CodeInvalidArgument, "spec.labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateNetwork(context.Background(), connect.NewRequest(&shoalv1.CreateNetworkRequest{Spec: tc.spec}))
			if codeOf(err) != tc.code || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("want %v naming %q, got %v", tc.code, tc.field, err)
			}
			if n := countNetworks(st); n != 1 {
				t.Fatalf("%d networks stored after a refused create", n)
			}
		})
	}
}

func TestCreateNetworkDefaultsSubnetGatewayAndVNI(t *testing.T) {
	s, _, _ := newTestServer(t)
	a := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "a"})
	b := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "b", Subnet: "10.0.1.0/24", Gateway: "10.0.1.254", Labels: map[string]string{"tier": "front"}})
	c := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "c"})
	for _, tc := range []struct {
		n                       *shoalv1.Network
		subnet, gateway, driver string
		vni                     uint32
	}{
		{a, "10.0.0.0/24", "10.0.0.1", DriverOverlay, FirstVNI},
		{b, "10.0.1.0/24", "10.0.1.254", DriverOverlay, FirstVNI + 1},
		{c, "10.0.2.0/24", "10.0.2.1", DriverOverlay, FirstVNI + 2},
	} {
		if tc.n.GetSubnet() != tc.subnet || tc.n.GetGateway() != tc.gateway || tc.n.GetVni() != tc.vni || tc.n.GetSpec().GetDriver() != tc.driver {
			t.Errorf("network %s: got %s gw %s vni %d driver %s, want %s gw %s vni %d", tc.n.GetSpec().GetName(),
				tc.n.GetSubnet(), tc.n.GetGateway(), tc.n.GetVni(), tc.n.GetSpec().GetDriver(), tc.subnet, tc.gateway, tc.vni)
		}
	}
	if b.GetSpec().GetLabels()["tier"] != "front" || a.GetSpec().GetSubnet() != "" {
		t.Fatalf("spec not kept as given: %v / %v", b.GetSpec(), a.GetSpec())
	}
	// A freed VNI and subnet are handed out again.
	if _, err := s.RemoveNetwork(context.Background(), connect.NewRequest(&shoalv1.RemoveNetworkRequest{Network: "a"})); err != nil {
		t.Fatal(err)
	}
	d := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "d"})
	if d.GetVni() != FirstVNI || d.GetSubnet() != "10.0.0.0/24" {
		t.Fatalf("after rm: got %s vni %d", d.GetSubnet(), d.GetVni())
	}
}

func TestCreateEncryptedNetworkKeepsTheFlag(t *testing.T) {
	s, _, _ := newTestServer(t)
	if n := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "secret", Encrypted: true}); !n.GetSpec().GetEncrypted() {
		t.Fatalf("network %v lost spec.encrypted", n)
	}
}

func TestServiceNetworksResolveAndGuardRemoval(t *testing.T) {
	s, st, _ := newTestServer(t)
	ctx := context.Background()
	n := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "front"})
	other := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "back"})

	bad := goodSpec()
	bad.Networks = []string{"front", "nosuch"}
	_, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: bad}))
	if codeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "spec.networks[1]") {
		t.Fatalf("unknown network: want NotFound naming spec.networks[1], got %v", err)
	}
	empty := goodSpec()
	empty.Networks = []string{""}
	_, err = s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: empty}))
	if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "spec.networks[0]") {
		t.Fatalf("empty network: want InvalidArgument naming spec.networks[0], got %v", err)
	}
	twice := goodSpec()
	twice.Networks = []string{"front", n.GetId()}
	_, err = s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: twice}))
	if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "spec.networks[1]") {
		t.Fatalf("network twice: want InvalidArgument naming spec.networks[1], got %v", err)
	}
	if c := countServices(t, st); c != 0 {
		t.Fatalf("%d services stored after refused creates", c)
	}

	good := goodSpec()
	good.Networks = []string{"front"}
	res, err := s.CreateService(ctx, connect.NewRequest(&shoalv1.CreateServiceRequest{Spec: good}))
	if err != nil {
		t.Fatal(err)
	}
	svc := res.Msg.GetService()
	if got := svc.GetSpec().GetNetworks(); len(got) != 1 || got[0] != n.GetId() {
		t.Fatalf("stored networks %v, want [%s]", got, n.GetId())
	}

	_, err = s.RemoveNetwork(ctx, connect.NewRequest(&shoalv1.RemoveNetworkRequest{Network: "front"}))
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "web") {
		t.Fatalf("rm in use: want FailedPrecondition naming the service, got %v", err)
	}

	// Moving the service to another network makes new tasks and frees the first.
	upd := goodSpec()
	upd.Networks = []string{"back"}
	ures, err := s.UpdateService(ctx, connect.NewRequest(&shoalv1.UpdateServiceRequest{Service: "web", Spec: upd}))
	if err != nil {
		t.Fatal(err)
	}
	if got := ures.Msg.GetService(); got.GetSpec().GetNetworks()[0] != other.GetId() || got.GetSpecVersion() != svc.GetSpecVersion()+1 {
		t.Fatalf("updated service %v", got)
	}
	if _, err := s.RemoveNetwork(ctx, connect.NewRequest(&shoalv1.RemoveNetworkRequest{Network: "front"})); err != nil {
		t.Fatalf("rm unused network: %v", err)
	}
	if c := countNetworks(st); c != 1 {
		t.Fatalf("%d networks left, want 1", c)
	}
}

func TestClusterAddressPoolFeedsDefaultedSubnets(t *testing.T) {
	s, _, _ := newTestServer(t)
	ctx := context.Background()
	cur, err := s.GetCluster(ctx, connect.NewRequest(&shoalv1.GetClusterRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pool  string
		size  uint32
		field string
	}{
		{"10.0.0.0", 0, "spec.default_address_pool"},
		{"10.1.2.3/16", 0, "spec.default_address_pool"},
		{"172.20.0.0/16", 31, "spec.default_subnet_size"},
		{"172.20.0.0/16", 12, "spec.default_subnet_size"},
	} {
		sp := cur.Msg.GetCluster().GetSpec()
		sp.DefaultAddressPool, sp.DefaultSubnetSize = tc.pool, tc.size
		_, err := s.UpdateCluster(ctx, connect.NewRequest(&shoalv1.UpdateClusterRequest{Spec: sp}))
		if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("pool %s size %d: want InvalidArgument naming %s, got %v", tc.pool, tc.size, tc.field, err)
		}
	}
	sp := cur.Msg.GetCluster().GetSpec()
	sp.DefaultAddressPool, sp.DefaultSubnetSize = "172.20.0.0/16", 28
	if _, err := s.UpdateCluster(ctx, connect.NewRequest(&shoalv1.UpdateClusterRequest{Spec: sp})); err != nil {
		t.Fatal(err)
	}
	createNetwork(t, s, &shoalv1.NetworkSpec{Name: "given", Subnet: "172.20.0.0/28"})
	if n := createNetwork(t, s, &shoalv1.NetworkSpec{Name: "pooled"}); n.GetSubnet() != "172.20.0.16/28" || n.GetGateway() != "172.20.0.17" {
		t.Fatalf("pooled network got %s gw %s, want 172.20.0.16/28 gw 172.20.0.17", n.GetSubnet(), n.GetGateway())
	}
}
