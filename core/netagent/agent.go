package netagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/dns"
	"github.com/shoal-project/shoal/network/lb"
	"github.com/shoal-project/shoal/network/overlay"
)

// Sentinel errors, wrapped with details.
var (
	ErrUnknownNetwork = errors.New("netagent: network not in the node's assignments")
	ErrStopped        = errors.New("netagent: stopped")
)

// Dataplane is the node's overlay (network/overlay.Manager).
type Dataplane interface {
	EnsureNetwork(overlay.NetworkConfig) error
	RemoveNetwork(networkID string) error
	SetPeers(networkID string, peers []overlay.Peer) error
	Attach(overlay.EndpointConfig) error
	Detach(networkID, taskID string) error
}

// Gossip is the node's gossip member (core/gossip.Member).
type Gossip interface {
	Publish(gossip.Attachment) error
	Withdraw(taskID string) error
	Watch(ctx context.Context) <-chan gossip.Change
}

// TaskNet is what runs inside one attached task's namespace: its DNS
// server's records and its VIP load-balancing rules.
type TaskNet interface {
	SetRecords(dns.Records)
	SyncLB([]lb.Service) error
	Close() error
}

// TaskNetOpener starts a TaskNet in a task's namespace (/proc/PID/ns/net).
type TaskNetOpener func(netnsPath string) (TaskNet, error)

// Config configures an Agent. Every field but Logger, OpenMesh and
// NodeNetns is required.
type Config struct {
	Dataplane Dataplane
	Gossip    Gossip
	OpenTask  TaskNetOpener
	// OpenMesh opens the node's published ports; nil: the node takes no
	// part in the routing mesh.
	OpenMesh MeshOpener
	// NodeNetns is the node's own namespace (default /proc/self/ns/net),
	// where its ingress interface and published ports live.
	NodeNetns string
	Logger    *slog.Logger
}

// Agent keeps the node's data plane in line with its assignments and the
// gossip table. Its methods may be called from any goroutine.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	reqs chan func(*state)
	done chan struct{}
}

// New returns an Agent; Run drives it.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Dataplane == nil:
		return nil, errors.New("netagent: Config.Dataplane is nil: give the node's overlay manager")
	case cfg.Gossip == nil:
		return nil, errors.New("netagent: Config.Gossip is nil: give the node's gossip member")
	case cfg.OpenTask == nil:
		return nil, errors.New("netagent: Config.OpenTask is nil: give the DNS/LB opener")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeNetns == "" {
		cfg.NodeNetns = "/proc/self/ns/net"
	}
	return &Agent{cfg: cfg, log: log, reqs: make(chan func(*state)), done: make(chan struct{})}, nil
}

// Run owns the state until ctx ends; then it detaches nothing (tasks keep
// their interfaces across an agent restart) but closes the task servers.
func (a *Agent) Run(ctx context.Context) error {
	defer close(a.done)
	st := newState(a.cfg, a.log)
	defer st.closeTaskNets()
	changes := a.cfg.Gossip.Watch(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case fn := <-a.reqs:
			fn(st)
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			st.apply(c)
			st.drain(changes)
		}
		st.reconcile()
	}
}

// do runs fn on the owner goroutine and waits for it.
func (a *Agent) do(ctx context.Context, fn func(*state) error) error {
	errc := make(chan error, 1)
	select {
	case a.reqs <- func(s *state) { errc <- fn(s) }:
	case <-a.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-errc
}

// SetNetworks replaces the networks of the node's assignments.
func (a *Agent) SetNetworks(ctx context.Context, networks []Network) error {
	return a.do(ctx, func(s *state) error {
		s.networks = make(map[string]Network, len(networks))
		for _, n := range networks {
			s.networks[n.ID] = n
		}
		return nil
	})
}

// SetIngressAddr sets the node's address on the ingress network (invalid:
// none), where its routing mesh answers.
func (a *Agent) SetIngressAddr(ctx context.Context, addr netip.Prefix) error {
	return a.do(ctx, func(s *state) error {
		s.ingressAddr = addr
		return nil
	})
}

// Attach connects a task's namespace to each of its networks, starts its
// DNS server and load balancer and publishes its attachments.
func (a *Agent) Attach(ctx context.Context, t Task, netnsPath string) error {
	return a.do(ctx, func(s *state) error { return s.attach(t, netnsPath) })
}

// Detach withdraws a task's attachments and removes its interfaces; a
// task that was not attached is a no-op.
func (a *Agent) Detach(ctx context.Context, taskID string) error {
	return a.do(ctx, func(s *state) error { return s.detach(taskID) })
}

// Entries lists the gossip table as this node's agent last saw it.
func (a *Agent) Entries(ctx context.Context) ([]gossip.Entry, error) {
	var out []gossip.Entry
	err := a.do(ctx, func(s *state) error {
		for _, e := range s.entries {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// attached is one local task with interfaces on its networks.
type attached struct {
	task     Task
	net      TaskNet
	services []lb.Service // last synced
}

// state is owned by Agent.run.
type state struct {
	cfg      Config
	log      *slog.Logger
	networks map[string]Network
	entries  map[entryKey]gossip.Entry
	tasks    map[string]*attached
	sandbox  map[string]bool           // networks set up on this node
	peers    map[string][]overlay.Peer // last programmed per network

	ingressAddr netip.Prefix // the node's, from the assignments
	ingress     *ingress     // nil while the node is out of the mesh
}

func newState(cfg Config, log *slog.Logger) *state {
	return &state{
		cfg: cfg, log: log,
		networks: map[string]Network{},
		entries:  map[entryKey]gossip.Entry{},
		tasks:    map[string]*attached{},
		sandbox:  map[string]bool{},
		peers:    map[string][]overlay.Peer{},
	}
}

func (s *state) apply(c gossip.Change) {
	k := entryKey{c.Entry.NetworkID, c.Entry.TaskID}
	if c.Kind == gossip.Removed {
		delete(s.entries, k)
		return
	}
	s.entries[k] = c.Entry
}

// drain applies the changes already queued, so a burst costs one reconcile.
func (s *state) drain(changes <-chan gossip.Change) {
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				return
			}
			s.apply(c)
		default:
			return
		}
	}
}

func (s *state) attach(t Task, netnsPath string) error {
	if _, ok := s.tasks[t.ID]; ok {
		return nil
	}
	for _, id := range sortedKeys(t.Addrs) {
		if err := s.attachNetwork(t, id, netnsPath); err != nil {
			return err
		}
	}
	tn, err := s.cfg.OpenTask(netnsPath)
	if err != nil {
		return fmt.Errorf("netagent: task %s: DNS and load balancer: %w", t.ID, err)
	}
	s.tasks[t.ID] = &attached{task: t, net: tn}
	for _, id := range sortedKeys(t.Addrs) {
		a := gossip.Attachment{NetworkID: id, TaskID: t.ID, Addr: t.Addrs[id],
			ServiceID: t.ServiceID, ServiceName: t.ServiceName, TaskName: t.Name}
		if err := s.cfg.Gossip.Publish(a); err != nil {
			return fmt.Errorf("netagent: publish task %s on network %s: %w", t.ID, id, err)
		}
	}
	return nil
}

func (s *state) attachNetwork(t Task, networkID, netnsPath string) error {
	n, ok := s.networks[networkID]
	if !ok {
		return fmt.Errorf("%w: task %s names network %s", ErrUnknownNetwork, t.ID, networkID)
	}
	ep := overlay.EndpointConfig{NetworkID: n.ID, TaskID: t.ID, NetnsPath: netnsPath, Addr: t.Addrs[n.ID]}
	if err := s.attachEndpoint(n, ep); err != nil {
		return fmt.Errorf("netagent: task %s on network %s: %w", t.ID, n.Name, err)
	}
	return nil
}

// attachEndpoint sets up n's sandbox if needed and attaches ep to it.
func (s *state) attachEndpoint(n Network, ep overlay.EndpointConfig) error {
	if !s.sandbox[n.ID] {
		cfg := overlay.NetworkConfig{ID: n.ID, VNI: n.VNI, Subnet: n.Subnet, Gateway: n.Gateway, Encrypted: n.Encrypted}
		if err := s.cfg.Dataplane.EnsureNetwork(cfg); err != nil {
			return fmt.Errorf("netagent: network %s (%s): %w", n.Name, n.ID, err)
		}
		s.sandbox[n.ID] = true
	}
	return s.cfg.Dataplane.Attach(ep)
}

func (s *state) detach(taskID string) error {
	at, ok := s.tasks[taskID]
	if !ok {
		return nil
	}
	delete(s.tasks, taskID)
	errs := []error{s.cfg.Gossip.Withdraw(taskID), at.net.Close()}
	for _, id := range sortedKeys(at.task.Addrs) {
		errs = append(errs, s.cfg.Dataplane.Detach(id, taskID))
	}
	return errors.Join(errs...)
}

// reconcile removes sandboxes no attached task uses, programs each
// sandbox's peers and each task's DNS records and load balancer.
func (s *state) reconcile() {
	s.reconcileIngress()
	used := map[string]bool{}
	if s.ingress != nil {
		used[s.ingress.network] = true
	}
	for _, at := range s.tasks {
		for id := range at.task.Addrs {
			used[id] = true
		}
	}
	for id := range s.sandbox {
		if used[id] {
			s.programPeers(id)
			continue
		}
		if err := s.cfg.Dataplane.RemoveNetwork(id); err != nil {
			s.log.Warn("netagent: remove network", "network", id, "err", err)
			continue
		}
		delete(s.sandbox, id)
		delete(s.peers, id)
	}
	for _, id := range sortedKeys(s.tasks) {
		s.programTask(s.tasks[id])
	}
}

func (s *state) programPeers(networkID string) {
	peers := peersFor(networkID, s.entries)
	if last, ok := s.peers[networkID]; ok && reflect.DeepEqual(last, peers) {
		return
	}
	if err := s.cfg.Dataplane.SetPeers(networkID, peers); err != nil {
		s.log.Warn("netagent: program peers", "network", networkID, "err", err)
		delete(s.peers, networkID)
		return
	}
	s.peers[networkID] = peers
}

func (s *state) programTask(at *attached) {
	v := viewOf(at.task, s.networks, s.entries)
	at.net.SetRecords(v.records())
	services := v.services(s.networks)
	if at.services != nil && reflect.DeepEqual(at.services, services) {
		return
	}
	if err := at.net.SyncLB(services); err != nil {
		s.log.Warn("netagent: load balancer", "task", at.task.ID, "err", err)
		at.services = nil
		return
	}
	if services == nil {
		services = []lb.Service{}
	}
	at.services = services
}

func (s *state) closeTaskNets() {
	for _, at := range s.tasks {
		if err := at.net.Close(); err != nil {
			s.log.Warn("netagent: close task DNS/LB", "task", at.task.ID, "err", err)
		}
	}
}
