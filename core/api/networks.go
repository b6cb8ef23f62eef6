package api

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/ids"
)

// Network defaults.
const (
	// DriverOverlay is the only network driver (and the default).
	DriverOverlay = "overlay"
	// FirstVNI is the lowest VXLAN network identifier handed to a network;
	// lower ones are left to hand-made VXLAN devices.
	FirstVNI = 4096
	maxVNI   = 1<<24 - 1
)

var (
	// DefaultAddressPool is split into DefaultSubnetBits subnets for
	// networks created without a subnet, unless the cluster spec sets
	// another pool (default_address_pool, default_subnet_size).
	DefaultAddressPool = netip.MustParsePrefix("10.0.0.0/8")
	// DefaultSubnetBits is the prefix length of a defaulted subnet.
	DefaultSubnetBits = 24
	// NodeBridgeRange holds the node-local bridges of the containerd
	// backend (10.88.N.0/24, runtime/containerd): no network may overlap it.
	NodeBridgeRange = netip.MustParsePrefix("10.88.0.0/16")
)

// KindNetwork names networks in NotFound details.
const KindNetwork = "network"

// validateNetworkSpec checks a spec on its own and names the first bad field.
func validateNetworkSpec(sp *shoalv1.NetworkSpec) error {
	if sp == nil {
		return invalidArg("spec: required")
	}
	if !serviceNameRE.MatchString(sp.GetName()) {
		return invalidArg("spec.name %q: a network name is a DNS label: 1-63 letters, digits and '-', starting and ending with a letter or digit", sp.GetName())
	}
	switch sp.GetName() {
	case "bridge", "host", "none":
		return invalidArg("spec.name %q: reserved for a container's network mode (ContainerSpec.network_mode %s); pick another name", sp.GetName(), sp.GetName())
	}
	if d := sp.GetDriver(); d != "" && d != DriverOverlay {
		return invalidArg("spec.driver %q: the only driver is %q", d, DriverOverlay)
	}
	if sp.GetIngress() {
		return invalidArg("spec.ingress: the cluster has one ingress network, made when the cluster is initialised; create a plain overlay network")
	}
	if err := validateLabels("spec.labels", sp.GetLabels()); err != nil {
		return err
	}
	if sp.GetSubnet() == "" {
		if sp.GetGateway() != "" {
			return invalidArg("spec.gateway %q: give spec.subnet with it", sp.GetGateway())
		}
		return nil
	}
	subnet, err := parseSubnet(sp.GetSubnet())
	if err != nil {
		return err
	}
	if gw := sp.GetGateway(); gw != "" {
		return validateGateway(subnet, gw)
	}
	return nil
}

func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil || !p.Addr().Is4():
		return p, invalidArg("spec.subnet %q: give an IPv4 CIDR such as 10.1.2.0/24", s)
	case p.Bits() < 8 || p.Bits() > 30:
		return p, invalidArg("spec.subnet %q: the prefix length must be /8 to /30 (a /31 or /32 has no room for tasks)", s)
	case p != p.Masked():
		return p, invalidArg("spec.subnet %q: not a network address; did you mean %s?", s, p.Masked())
	case p.Overlaps(NodeBridgeRange):
		return p, invalidArg("spec.subnet %s: overlaps %s, the node-local bridges' range; pick another subnet", p, NodeBridgeRange)
	}
	return p, nil
}

func validateGateway(subnet netip.Prefix, s string) error {
	gw, err := netip.ParseAddr(s)
	if err != nil || !gw.Is4() {
		return invalidArg("spec.gateway %q: give an IPv4 address inside spec.subnet %s", s, subnet)
	}
	if !subnet.Contains(gw) || gw == subnet.Addr() || gw == lastAddr(subnet) {
		return invalidArg("spec.gateway %s: not a host address inside spec.subnet %s", gw, subnet)
	}
	return nil
}

// lastAddr is the broadcast address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// networkSubnet is a stored network's subnet in effect.
func networkSubnet(n *shoalv1.Network) netip.Prefix {
	s := n.GetSubnet()
	if s == "" {
		s = n.GetSpec().GetSubnet()
	}
	p, _ := netip.ParsePrefix(s)
	return p
}

// placeNetwork gives n its subnet (the spec's, checked against the other
// networks, or the first free one of the default pool), gateway and VNI.
func placeNetwork(n *shoalv1.Network, others []*shoalv1.Network, pool addressPool) error {
	taken := make([]netip.Prefix, 0, len(others)+1)
	vnis := make(map[uint32]bool, len(others))
	for _, o := range others {
		if p := networkSubnet(o); p.IsValid() {
			taken = append(taken, p)
		}
		vnis[o.GetVni()] = true
	}
	subnet, err := pickSubnet(n.GetSpec().GetSubnet(), taken, others, pool)
	if err != nil {
		return err
	}
	n.Subnet = subnet.String()
	n.Gateway = n.GetSpec().GetGateway()
	if n.Gateway == "" {
		n.Gateway = subnet.Addr().Next().String()
	}
	for v := uint32(FirstVNI); v <= maxVNI; v++ {
		if !vnis[v] {
			n.Vni = v
			return nil
		}
	}
	return connect.NewError(connect.CodeResourceExhausted, errors.New("no free VXLAN network identifier; remove unused networks"))
}

// addressPool is where defaulted subnets come from.
type addressPool struct {
	prefix netip.Prefix
	bits   int
}

// clusterPool is the pool of the cluster spec, else the default one.
func clusterPool(sp *shoalv1.ClusterSpec) addressPool {
	pool := addressPool{DefaultAddressPool, DefaultSubnetBits}
	if p, err := netip.ParsePrefix(sp.GetDefaultAddressPool()); err == nil {
		pool.prefix = p
	}
	if b := sp.GetDefaultSubnetSize(); b != 0 {
		pool.bits = int(b)
	}
	return pool
}

// validatePool checks the cluster spec's default address pool.
func validatePool(sp *shoalv1.ClusterSpec) error {
	if s := sp.GetDefaultAddressPool(); s != "" {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() || p != p.Masked() || p.Bits() < 8 || p.Bits() > 30 {
			return invalidArg("spec.default_address_pool %q: give an IPv4 network in CIDR form, /8 to /30, e.g. 10.0.0.0/8", s)
		}
	}
	pool := clusterPool(sp)
	if b := pool.bits; b < pool.prefix.Bits() || b > 30 {
		return invalidArg("spec.default_subnet_size %d: use %d (the pool's size) to 30", b, pool.prefix.Bits())
	}
	return nil
}

func pickSubnet(want string, taken []netip.Prefix, others []*shoalv1.Network, pool addressPool) (netip.Prefix, error) {
	if want != "" {
		p := netip.MustParsePrefix(want) // validated
		for _, o := range others {
			if q := networkSubnet(o); q.IsValid() && q.Overlaps(p) {
				return p, invalidArg("spec.subnet %s: overlaps %s of network %q; pick another subnet", p, q, o.GetSpec().GetName())
			}
		}
		return p, nil
	}
	taken = append(taken, NodeBridgeRange)
	step := uint64(1) << (32 - pool.bits)
	b := pool.prefix.Addr().As4()
	start := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	count := uint64(1) << (pool.bits - pool.prefix.Bits())
next:
	for i := uint64(0); i < count; i++ {
		v := start + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), pool.bits)
		for _, q := range taken {
			if q.Overlaps(p) {
				continue next
			}
		}
		return p, nil
	}
	return netip.Prefix{}, connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("spec.subnet: the default address pool %s is used up; give a subnet", pool.prefix))
}

func resolveNetwork(tx store.ReadTx, ref string) (*shoalv1.Network, error) {
	return resolveByName(tx, store.KindNetwork, KindNetwork, ref, tx.FindNetworks, tx.GetNetwork)
}

// resolveServiceNetworks replaces the network names or IDs of sp with IDs.
func resolveServiceNetworks(tx store.ReadTx, sp *shoalv1.ServiceSpec) error {
	seen := make(map[string]bool, len(sp.GetNetworks()))
	for i, ref := range sp.GetNetworks() {
		if ref == "" {
			return invalidArg("spec.networks[%d]: empty; give a network name or ID", i)
		}
		n, err := resolveNetwork(tx, ref)
		var cerr *connect.Error
		if errors.As(err, &cerr) && cerr.Code() == connect.CodeNotFound {
			return notFoundDetail(KindNetwork, ref, fmt.Sprintf("spec.networks[%d]: network %q not found", i, ref))
		}
		if err != nil {
			return err
		}
		if seen[n.GetId()] {
			return invalidArg("spec.networks[%d] %q: network listed twice", i, ref)
		}
		seen[n.GetId()] = true
		sp.Networks[i] = n.GetId()
	}
	return nil
}

func (s *Server) CreateNetwork(ctx context.Context, req *connect.Request[shoalv1.CreateNetworkRequest]) (*connect.Response[shoalv1.CreateNetworkResponse], error) {
	sp := req.Msg.GetSpec()
	if err := validateNetworkSpec(sp); err != nil {
		return nil, err
	}
	n := &shoalv1.Network{Id: ids.New(), Spec: proto.CloneOf(sp)}
	if n.Spec.Driver == "" {
		n.Spec.Driver = DriverOverlay
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		others, err := tx.FindNetworks(store.All())
		if err != nil {
			return err
		}
		for _, o := range others {
			if o.GetSpec().GetName() == sp.GetName() {
				return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("spec.name: a network named %q exists; pick another name", sp.GetName()))
			}
		}
		pool := addressPool{DefaultAddressPool, DefaultSubnetBits}
		if c, err := clusterObj(tx); err == nil {
			pool = clusterPool(c.GetSpec())
		}
		if err := placeNetwork(n, others, pool); err != nil {
			return err
		}
		return tx.Create(n)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	var out *shoalv1.Network
	_ = s.store.View(func(tx store.ReadTx) error { out = tx.GetNetwork(n.Id); return nil })
	if out == nil {
		out = n
	}
	return connect.NewResponse(&shoalv1.CreateNetworkResponse{Network: out}), nil
}

func (s *Server) GetNetwork(ctx context.Context, req *connect.Request[shoalv1.GetNetworkRequest]) (*connect.Response[shoalv1.GetNetworkResponse], error) {
	res := &shoalv1.GetNetworkResponse{}
	err := s.read(ctx, func(tx store.ReadTx) error {
		n, err := resolveNetwork(tx, req.Msg.GetNetwork())
		res.Network = n
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(res), nil
}

func (s *Server) ListNetworks(ctx context.Context, _ *connect.Request[shoalv1.ListNetworksRequest]) (*connect.Response[shoalv1.ListNetworksResponse], error) {
	res := &shoalv1.ListNetworksResponse{}
	err := s.read(ctx, func(tx store.ReadTx) error {
		ns, err := tx.FindNetworks(store.All())
		res.Networks = ns
		return err
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(res), nil
}

// RemoveNetwork removes a network no service is attached to.
func (s *Server) RemoveNetwork(ctx context.Context, req *connect.Request[shoalv1.RemoveNetworkRequest]) (*connect.Response[shoalv1.RemoveNetworkResponse], error) {
	err := s.store.Update(ctx, func(tx store.Tx) error {
		n, err := resolveNetwork(tx, req.Msg.GetNetwork())
		if err != nil {
			return err
		}
		users, err := networkUsers(tx, n.GetId())
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return precondition("network %q is in use by service(s) %s: remove them or detach them from it first",
				n.GetSpec().GetName(), strings.Join(users, ", "))
		}
		if n.GetSpec().GetIngress() {
			// Nodes hold addresses on it, and nothing could create it again.
			return precondition("network %q carries the routing mesh (published ports in ingress mode) and cannot be removed", n.GetSpec().GetName())
		}
		return tx.Delete(store.KindNetwork, n.GetId())
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return connect.NewResponse(&shoalv1.RemoveNetworkResponse{}), nil
}

// networkUsers returns the names of the services attached to network id.
func networkUsers(tx store.ReadTx, id string) ([]string, error) {
	svcs, err := tx.FindServices(store.All())
	if err != nil {
		return nil, err
	}
	var names []string
	for _, svc := range svcs {
		for _, nid := range svc.GetSpec().GetNetworks() {
			if nid == id {
				names = append(names, svc.GetSpec().GetName())
				break
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
