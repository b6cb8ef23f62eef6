package lb

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/shoal-project/shoal/network/internal/nsexec"
)

// MeshTableName is the nftables table (family ip) of the routing mesh, in the
// node's own namespace.
const MeshTableName = "shoal-ingress"

// Published is one service's ingress-published ports and its healthy tasks'
// addresses on the ingress network.
type Published struct {
	// Name appears in errors only.
	Name string
	// Ports: Port is the published port every node answers on, TargetPort the
	// tasks' port (zero: the same).
	Ports    []Port
	Backends []netip.Addr
}

// Mesh programs a node's published ports: a connection to any local address
// of the node on a published port is DNATed to one of the service's tasks
// (numgen round robin) on the ingress network and masqueraded behind the
// node's address on it (the interface given to Sync), so the reply comes back
// through this node wherever the task runs.
type Mesh struct {
	path string
	log  *slog.Logger

	mu        sync.Mutex
	closed    bool
	lastIface string
	last      []Published // nil before the first Sync
}

// OpenMesh returns a Mesh for the namespace at netnsPath (the node's own:
// /proc/self/ns/net). It changes nothing until the first Sync.
func OpenMesh(netnsPath string, logger *slog.Logger) *Mesh {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mesh{path: netnsPath, log: logger.With("netns", netnsPath)}
}

// Sync replaces the mesh's rules, in one transaction, with services reached
// through iface (the node's interface on the ingress network). It turns IPv4
// forwarding on in the namespace: the mesh forwards clients' packets.
func (m *Mesh) Sync(iface string, services []Published) error {
	rules, err := meshRules(services)
	if err != nil {
		return err
	}
	if iface == "" || len(iface) >= unix.IFNAMSIZ {
		return fmt.Errorf("%w: ingress interface name %q: give 1-15 bytes", ErrInvalidService, iface)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.last != nil && iface == m.lastIface && reflect.DeepEqual(m.last, services) {
		return nil
	}
	if m.last == nil {
		if err := nsexec.Do(m.path, enableForwarding); err != nil {
			return fmt.Errorf("mesh in %s: %w", m.path, err)
		}
	}
	err = withNetnsConn(m.path, func(c *nftables.Conn) error {
		t := replaceTable(c, MeshTableName)
		ch := addMeshChains(c, t)
		var ids setIDs
		for _, r := range rules {
			// An anonymous map belongs to one rule: each chain gets its own.
			for _, chain := range []*nftables.Chain{ch.prerouting, ch.output} {
				if err := addMeshRule(c, t, chain, &ids, r); err != nil {
					return fmt.Errorf("service %q port %s/%d: %w", r.service, r.port.Protocol, r.port.Port, err)
				}
			}
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch.postrouting, Exprs: masqueradeOut(iface)})
		return c.Flush()
	})
	if err != nil {
		return fmt.Errorf("program published ports in %s: %w", m.path, err)
	}
	if err := forgetUDPFlows(m.path, goneBackends(publishedBackends(m.last), publishedBackends(services))); err != nil {
		m.log.Warn("removed backends keep their UDP flows until they time out", "err", err)
	}
	m.lastIface, m.last = iface, clonePublished(services)
	m.log.Debug("published ports programmed", "services", len(services), "rules", len(rules))
	return nil
}

// Close removes the mesh's table; a namespace already gone has nothing to
// remove. Forwarding stays on.
func (m *Mesh) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return dropTable(m.path, MeshTableName)
}

// meshRule is one published port with the backends it balances over.
type meshRule struct {
	service  string
	port     Port
	backends []netip.Addr
}

// meshRules checks services and lists one rule per published port that has
// a backend, sorted by protocol and port (a port with none is left to the
// node itself: nothing listens there, so the client is refused).
func meshRules(services []Published) ([]meshRule, error) {
	type key struct {
		proto Protocol
		port  uint16
	}
	owner := make(map[key]string)
	var out []meshRule
	for _, p := range services {
		if err := (Service{Name: p.Name, VIP: netip.IPv4Unspecified(), Ports: p.Ports, Backends: p.Backends}).validate(); err != nil {
			return nil, err
		}
		for _, port := range p.Ports {
			k := key{port.Protocol, port.Port}
			if o, dup := owner[k]; dup {
				return nil, fmt.Errorf("%w: services %q and %q both publish %s/%d: publish each port once", ErrInvalidService, o, p.Name, port.Protocol, port.Port)
			}
			owner[k] = p.Name
			if len(p.Backends) > 0 {
				out = append(out, meshRule{service: p.Name, port: port, backends: p.Backends})
			}
		}
	}
	slices.SortFunc(out, func(a, b meshRule) int {
		if a.port.Protocol != b.port.Protocol {
			return int(protoNumber(a.port.Protocol)) - int(protoNumber(b.port.Protocol))
		}
		return int(a.port.Port) - int(b.port.Port)
	})
	return out, nil
}

// addMeshRule queues "fib daddr type local meta l4proto P th dport PORT dnat
// to numgen inc mod N map { i : backend_i . target }" in chain.
func addMeshRule(c *nftables.Conn, t *nftables.Table, chain *nftables.Chain, ids *setIDs, r meshRule) error {
	s := Service{Name: r.service, Backends: r.backends}
	mp, err := addBackendMap(c, t, ids, s, backendType, func(b [4]byte) []byte { return backendValue(b, r.port.target()) })
	if err != nil {
		return err
	}
	exprs := append(append(matchLocalDest(), matchPort(r.port)...), dnatByNumgen(mp, len(r.backends), true)...)
	c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: exprs})
	return nil
}

type meshChains struct {
	prerouting, output, postrouting *nftables.Chain
}

func addMeshChains(c *nftables.Conn, t *nftables.Table) meshChains {
	chain := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
	}
	return meshChains{
		prerouting:  chain("prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		output:      chain("output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
		postrouting: chain("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource),
	}
}

// matchLocalDest is "fib daddr type local": only connections to the node's
// own addresses, never traffic it routes elsewhere (e.g. its containers').
func matchLocalDest() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// masqueradeOut is "oifname IFACE masquerade".
func masqueradeOut(iface string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: ifname(iface)},
		&expr.Masq{},
	}
}

// ifname is an interface name as the kernel compares it: NUL-padded to IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func enableForwarding() error {
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
}

func clonePublished(services []Published) []Published {
	out := make([]Published, len(services))
	for i, s := range services {
		s.Ports = slices.Clone(s.Ports)
		s.Backends = slices.Clone(s.Backends)
		out[i] = s
	}
	return out
}
