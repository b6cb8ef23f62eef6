package netagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/core/taskspec"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/clock"
	"github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/lb"
	"github.com/shoal-project/shoal/runtime"
)

// ErrNoGossip: a task asked for a cluster network before the node's first
// session gave it the gossip keys.
var ErrNoGossip = errors.New("netagent: gossip not started (no session with the managers yet)")

// Member is the node's gossip member as the Node drives it.
type Member interface {
	Gossip
	Join(peers []string) error
	SetKeys(keys [][]byte) error
	Close() error
}

// NodeConfig configures a Node. Dataplane, OpenTask and NewMember are
// required.
type NodeConfig struct {
	Dataplane Dataplane
	OpenTask  TaskNetOpener
	// NewMember starts the node's gossip member with the session's keys.
	NewMember func(keys [][]byte) (Member, error)
	// Search are the host's search domains, kept in tasks' resolv.conf.
	Search []string
	// OpenMesh and NodeNetns: see Config (nil OpenMesh: no routing mesh).
	OpenMesh  MeshOpener
	NodeNetns string
	// Tunnel is the node's WireGuard tunnel for encrypted networks; nil:
	// the node has none (the Dataplane refuses encrypted networks).
	Tunnel Tunnel
	// KeyRotation is how often the tunnel gets a new key; 0 means
	// DefaultKeyRotation. Rand makes the keys (nil: crypto/rand) and
	// Clock times the rotations (nil: the real clock).
	KeyRotation time.Duration
	Rand        io.Reader
	Clock       clock.Clock
	Logger      *slog.Logger
}

// Node is the cluster-network side of one node: it starts the gossip
// member at the first session that brings keys, applies later key
// rotations, feeds the Agent the assignments' networks, and is the
// runtime.NetworkHook the container backend calls.
type Node struct {
	cfg NodeConfig
	log *slog.Logger

	mu       sync.Mutex
	member   Member
	agent    *Agent
	networks []Network
	ingress  netip.Prefix
	cancel   context.CancelFunc
	done     chan struct{}

	tunnelPeers tunnelPeers
	stopRotate  chan struct{}
}

var _ runtime.NetworkHook = (*Node)(nil)

// NewNode returns a Node; nothing starts until SetGossip.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.Dataplane == nil || cfg.OpenTask == nil || cfg.NewMember == nil {
		return nil, errors.New("netagent: NodeConfig needs Dataplane, OpenTask and NewMember")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.tunnelDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger, tunnelPeers: tunnelPeers{}, stopRotate: make(chan struct{})}
	if cfg.Tunnel != nil {
		go n.rotateKeys(n.stopRotate)
	}
	return n, nil
}

// SetGossip applies a session message's gossip keys and peers: the first
// call starts the member and the agent; later ones rotate the keys and,
// while the member knows no one else, join the peers.
func (n *Node) SetGossip(keys [][]byte, peers []string) error {
	if len(keys) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.member == nil {
		if err := n.startLocked(keys); err != nil {
			return err
		}
	} else if err := n.member.SetKeys(keys); err != nil {
		return fmt.Errorf("netagent: gossip keys: %w", err)
	}
	if err := n.member.Join(peers); err != nil {
		n.log.Warn("gossip join", "peers", peers, "err", err)
	}
	return nil
}

func (n *Node) startLocked(keys [][]byte) error {
	m, err := n.cfg.NewMember(keys)
	if err != nil {
		return fmt.Errorf("netagent: start gossip: %w", err)
	}
	a, err := New(Config{Dataplane: n.cfg.Dataplane, Gossip: m, OpenTask: n.cfg.OpenTask,
		OpenMesh: n.cfg.OpenMesh, NodeNetns: n.cfg.NodeNetns, Logger: n.log})
	if err != nil {
		return errors.Join(err, m.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.member, n.agent, n.cancel, n.done = m, a, cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		_ = a.Run(ctx)
	}()
	if n.networks != nil {
		return errors.Join(a.SetNetworks(ctx, n.networks), a.SetIngressAddr(ctx, n.ingress))
	}
	return nil
}

// SetNetworks applies the networks of an assignments message and the
// node's ingress address (CIDR form, "" for none).
func (n *Node) SetNetworks(ctx context.Context, assigned []*shoalv1.NetworkAssignment, ingressAddr string) error {
	nets, err := NetworksFromAssignments(assigned)
	if err != nil {
		return err
	}
	var addr netip.Prefix
	if ingressAddr != "" {
		if addr, err = netip.ParsePrefix(ingressAddr); err != nil {
			return fmt.Errorf("netagent: ingress address %q: %w", ingressAddr, err)
		}
	}
	n.mu.Lock()
	n.networks, n.ingress = nets, addr
	a := n.agent
	n.mu.Unlock()
	if a == nil {
		return nil
	}
	return errors.Join(a.SetNetworks(ctx, nets), a.SetIngressAddr(ctx, addr))
}

func (n *Node) current() (*Agent, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.agent == nil {
		return nil, ErrNoGossip
	}
	return n.agent, nil
}

// Attach implements runtime.NetworkHook.
func (n *Node) Attach(ctx context.Context, spec *runtime.TaskSpec, netnsPath string) ([]byte, error) {
	a, err := n.current()
	if err != nil {
		return nil, err
	}
	t := Task{ID: spec.TaskID, Name: TaskName(spec), ServiceID: spec.ServiceID, ServiceName: spec.ServiceName,
		Addrs: make(map[string]netip.Prefix, len(spec.Networks))}
	for _, na := range spec.Networks {
		t.Addrs[na.NetworkID] = na.Addr
	}
	if err := a.Attach(ctx, t, netnsPath); err != nil {
		return nil, err
	}
	return dns.ResolvConf(n.cfg.Search), nil
}

// Detach implements runtime.NetworkHook.
func (n *Node) Detach(ctx context.Context, taskID string) error {
	a, err := n.current()
	if err != nil {
		return nil // nothing was attached
	}
	return a.Detach(ctx, taskID)
}

// LeaveMesh takes the node out of the routing mesh for good (it leaves the
// cluster): its published ports, its ingress interface and gossip entry go,
// and the ingress sandbox with the last of them.
func (n *Node) LeaveMesh(ctx context.Context) error {
	n.mu.Lock()
	n.ingress = netip.Prefix{}
	n.mu.Unlock()
	a, err := n.current()
	if err != nil {
		return nil // never joined
	}
	if err := a.SetIngressAddr(ctx, netip.Prefix{}); err != nil {
		return err
	}
	_, err = a.Entries(ctx) // runs after the reconcile that left
	return err
}

// Entries lists the gossip table as the node's agent sees it (debugging).
func (n *Node) Entries(ctx context.Context) ([]gossip.Entry, error) {
	a, err := n.current()
	if err != nil {
		return nil, err
	}
	return a.Entries(ctx)
}

// Close stops the agent, leaves the gossip and closes the data plane when
// it is an io.Closer. Tasks keep their interfaces.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case <-n.stopRotate:
	default:
		close(n.stopRotate)
	}
	var errs []error
	if n.member != nil {
		n.cancel()
		<-n.done
		errs = append(errs, n.member.Close())
		n.member, n.agent = nil, nil
	}
	if c, ok := n.cfg.Dataplane.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if c, ok := n.cfg.Tunnel.(io.Closer); ok {
		errs = append(errs, c.Close()) // encrypted networks fail closed while the node is down
	}
	return errors.Join(errs...)
}

// TaskName is a task's DNS name, swarm's form: SERVICE.SLOT.TASKID (the
// node ID instead of the slot for a global service's task).
func TaskName(spec *runtime.TaskSpec) string {
	slot := fmt.Sprint(spec.Slot)
	if spec.Slot == 0 {
		slot = spec.NodeID
	}
	return strings.Join([]string{spec.ServiceName, slot, spec.TaskID}, ".")
}

// NetworksFromAssignments converts the dispatcher's network assignments,
// naming the network and field of the first malformed one.
func NetworksFromAssignments(assigned []*shoalv1.NetworkAssignment) ([]Network, error) {
	out := make([]Network, 0, len(assigned))
	for _, na := range assigned {
		n := Network{ID: na.GetId(), Name: na.GetName(), VNI: int(na.GetVni()), Ingress: na.GetIngress(), Encrypted: na.GetEncrypted()}
		var err error
		if n.Subnet, err = netip.ParsePrefix(na.GetSubnet()); err != nil {
			return nil, fmt.Errorf("netagent: network %s: subnet %q: %w", na.GetName(), na.GetSubnet(), err)
		}
		if g := na.GetGateway(); g != "" {
			if n.Gateway, err = netip.ParseAddr(g); err != nil {
				return nil, fmt.Errorf("netagent: network %s: gateway %q: %w", na.GetName(), g, err)
			}
		}
		for _, v := range na.GetVips() {
			vip, err := vipFromAssignment(v)
			if err != nil {
				return nil, fmt.Errorf("netagent: network %s: %w", na.GetName(), err)
			}
			if n.Ingress {
				vip.Ports = ingressPorts(v.GetPorts())
			}
			n.VIPs = append(n.VIPs, vip)
		}
		out = append(out, n)
	}
	return out, nil
}

func vipFromAssignment(v *shoalv1.ServiceVIP) (VIP, error) {
	p, err := netip.ParsePrefix(v.GetAddress())
	if err != nil {
		return VIP{}, fmt.Errorf("VIP of service %s: address %q: %w", v.GetServiceName(), v.GetAddress(), err)
	}
	return VIP{ServiceID: v.GetServiceId(), ServiceName: v.GetServiceName(), Addr: p.Addr()}, nil
}

// ingressPorts are the published ingress-mode ports of a service's ports
// (a dynamic port not allocated yet is left out: it is not served).
func ingressPorts(ports []*shoalv1.PortConfig) []lb.Port {
	var out []lb.Port
	for _, p := range ports {
		if taskspec.Mode(p) != taskspec.ModeIngress || p.GetPublishedPort() == 0 {
			continue
		}
		out = append(out, lb.Port{Protocol: lb.Protocol(taskspec.Protocol(p)),
			Port: uint16(p.GetPublishedPort()), TargetPort: uint16(p.GetTargetPort())})
	}
	return out
}
