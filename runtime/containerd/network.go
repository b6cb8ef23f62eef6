package containerd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/shoal-project/shoal/internal/atomicfile"
)

// errNoAddress means the node's bridge range is exhausted.
var errNoAddress = errors.New("no free address in the node's bridge range")

// network is the node-local bridge: one netns + veth + address per bridge-mode task.
// Address allocations are persisted so that a restarted agent never hands out an
// address a running container still holds.
//
// Without a configured subnet the bridge's subnet is chosen when the bridge is first
// created: a 10.88.N.0/24 that no interface of the host holds yet (N starts from a
// hash of the namespace), chosen and claimed under a host-wide lock so that several
// nodes on one machine never pick the same one, and persisted with the allocations
// so that a restarted agent keeps it.
type network struct {
	bridge  string
	fixed   bool         // the subnet was configured, not chosen
	prefix  netip.Prefix // invalid until configured, loaded or chosen
	gateway netip.Addr
	file    string
	salt    string // makes netns/veth names unique per backend namespace

	log         *slog.Logger
	ipt         iptablesFunc // execIptables; a fake in tests
	forwardPath string       // net.ipv4.ip_forward's file
	warnNoIpt   sync.Once

	mu       sync.Mutex
	state    ipamState
	loaded   bool
	bridgeUp bool
}

type ipamState struct {
	Subnet string            `json:"subnet"`
	Next   uint32            `json:"next"`  // offset tried first by the next allocation (round robin)
	Alloc  map[string]string `json:"alloc"` // address -> task ID
}

// newNetwork prepares the bridge network; subnet "" lets it choose one (see network).
func newNetwork(bridge, subnet, file, salt string) (*network, error) {
	n := &network{
		bridge: bridge, file: file, salt: salt,
		log: slog.New(slog.DiscardHandler), ipt: execIptables, forwardPath: "/proc/sys/net/ipv4/ip_forward",
	}
	if subnet == "" {
		return n, nil
	}
	p, err := parseSubnet(subnet)
	if err != nil {
		return nil, err
	}
	n.fixed = true
	n.setPrefix(p)
	return n, nil
}

func parseSubnet(subnet string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 16 {
		return netip.Prefix{}, fmt.Errorf("containerd: bridge subnet %q: want an IPv4 prefix between /16 and /30", subnet)
	}
	return p.Masked(), nil
}

func (n *network) setPrefix(p netip.Prefix) {
	n.prefix = p
	n.gateway = p.Addr().Next()
}

// load reads the persisted subnet and allocations once. A configured subnet that
// differs from the persisted one starts from no allocations.
func (n *network) load() error {
	if n.loaded {
		return nil
	}
	fresh := func(p netip.Prefix) ipamState {
		st := ipamState{Next: 2, Alloc: map[string]string{}}
		if p.IsValid() {
			st.Subnet = p.String()
		}
		return st
	}
	n.state = fresh(n.prefix)
	data, err := os.ReadFile(n.file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read address allocations: %w", err)
	default:
		var st ipamState
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("decode address allocations %s: %w", n.file, err)
		}
		if st.Alloc == nil {
			st.Alloc = map[string]string{}
		}
		switch {
		case n.fixed:
			if st.Subnet == n.prefix.String() {
				n.state = st
			}
		default:
			if p, err := parseSubnet(st.Subnet); err == nil {
				n.setPrefix(p)
				n.state = st
			}
		}
	}
	n.loaded = true
	return nil
}

func (n *network) save() error {
	return atomicfile.WriteJSON(n.file, n.state, 0o600)
}

func (n *network) size() uint32 { return uint32(1) << (32 - n.prefix.Bits()) }

func (n *network) addrAt(off uint32) netip.Addr {
	b := n.prefix.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) + off
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// allocate returns taskID's address, allocating the next free one round robin.
func (n *network) allocate(taskID string) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.load(); err != nil {
		return netip.Addr{}, err
	}
	if !n.prefix.IsValid() {
		return netip.Addr{}, errors.New("bridge subnet not chosen yet (the bridge was never set up)")
	}
	for a, t := range n.state.Alloc {
		if t == taskID {
			return netip.ParseAddr(a)
		}
	}
	size := n.size()
	// Offsets 0 (network), 1 (bridge) and size-1 (broadcast) are never handed out.
	for i := uint32(0); i < size; i++ {
		off := n.state.Next + i
		off = 2 + (off-2)%(size-3)
		a := n.addrAt(off)
		if _, used := n.state.Alloc[a.String()]; used {
			continue
		}
		n.state.Alloc[a.String()] = taskID
		n.state.Next = off + 1
		if err := n.save(); err != nil {
			delete(n.state.Alloc, a.String())
			return netip.Addr{}, fmt.Errorf("persist address allocation: %w", err)
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%w %s", errNoAddress, n.prefix)
}

// addrOf is the address allocated to taskID, if any.
func (n *network) addrOf(taskID string) (netip.Addr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.load() != nil {
		return netip.Addr{}, false
	}
	for a, t := range n.state.Alloc {
		if t == taskID {
			addr, err := netip.ParseAddr(a)
			return addr, err == nil
		}
	}
	return netip.Addr{}, false
}

func (n *network) release(taskID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.load(); err != nil {
		return err
	}
	changed := false
	for a, t := range n.state.Alloc {
		if t == taskID {
			delete(n.state.Alloc, a)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return n.save()
}

// names returns the netns and host-side veth names of a task.
func (n *network) names(taskID string) (netns, veth string) {
	h := fnv.New64a()
	h.Write([]byte(n.salt))
	h.Write([]byte{0})
	h.Write([]byte(taskID))
	sum := fmt.Sprintf("%016x", h.Sum64())
	return "shoal-" + sum, "vsh" + sum[:12]
}

// NetnsPath is where `ip netns` keeps a named network namespace.
func netnsPath(name string) string { return filepath.Join("/var/run/netns", name) }

func ip(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// linkExists asks the kernel (netlink, in this process's network namespace)
// rather than /sys/class/net, which shows the namespace sysfs was mounted in:
// a node started with nsenter --net sees the host's there.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func (n *network) ensureBridge(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bridgeUp && linkExists(n.bridge) {
		return nil
	}
	if err := n.load(); err != nil {
		return err
	}
	// Choosing a subnet and putting it on the bridge is one step for the whole host.
	unlock, err := lockHost()
	if err != nil {
		return err
	}
	defer unlock()
	if !n.fixed {
		taken, own, err := hostPrefixes(n.bridge)
		if err != nil {
			return err
		}
		// A chosen subnet another interface took meanwhile (the bridge was gone, e.g.
		// after a reboot) is given up while no address of it is handed out.
		if n.prefix.IsValid() && overlapsAny(n.prefix, taken) && len(n.state.Alloc) == 0 {
			n.prefix = netip.Prefix{}
		}
		if !n.prefix.IsValid() {
			// The bridge may still hold the subnet of an earlier life (state lost).
			p, err := pickSubnet(n.seed(), taken)
			for _, o := range own {
				if o.Bits() >= 16 && o.Bits() <= 30 && !overlapsAny(o, taken) {
					p, err = o, nil
					break
				}
			}
			if err != nil {
				return err
			}
			n.setPrefix(p)
			n.state.Subnet = p.String()
			if err := n.save(); err != nil {
				return fmt.Errorf("persist bridge subnet: %w", err)
			}
		}
	}
	if !linkExists(n.bridge) {
		if err := ip(ctx, "link", "add", n.bridge, "type", "bridge"); err != nil && !linkExists(n.bridge) {
			return err
		}
	}
	gw := netip.PrefixFrom(n.gateway, n.prefix.Bits()).String()
	if err := ip(ctx, "addr", "replace", gw, "dev", n.bridge); err != nil {
		return err
	}
	if err := ip(ctx, "link", "set", n.bridge, "up"); err != nil {
		return err
	}
	if err := n.enableNAT(ctx); err != nil {
		return err
	}
	n.bridgeUp = true
	return nil
}

// enableNAT gives the bridge's containers outbound connectivity (see nat.go). Without
// iptables it warns once and goes on: containers then reach only this host and each
// other.
func (n *network) enableNAT(ctx context.Context) error {
	if err := enableIPForward(n.forwardPath); err != nil {
		return err
	}
	// Under the host lock (ensureBridge holds it), so no other node is adding its rules.
	swept, err := sweepOrphanRules(ctx, n.ipt, linkExists)
	if swept > 0 {
		n.log.Info("removed the NAT rules of bridges that no longer exist", "rules", swept)
	}
	if err != nil && !errors.Is(err, errNoIptables) {
		n.log.Warn("remove the NAT rules of bridges that no longer exist", "err", err)
	}
	err = syncRules(ctx, n.ipt, n.bridge, n.prefix)
	if errors.Is(err, errNoIptables) {
		n.warnNoIpt.Do(func() {
			n.log.Warn("iptables not found: bridge-mode containers get no outbound connectivity (install iptables)",
				"bridge", n.bridge, "subnet", n.prefix.String(), "err", err)
		})
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbound NAT for %s: %w", n.prefix, err)
	}
	return nil
}

// destroy removes the bridge, its NAT and FORWARD rules and the persisted subnet and
// allocations, unless an address is still handed out. The network can be set up again
// afterwards (a chosen subnet is then chosen anew).
func (n *network) destroy(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.load(); err != nil {
		return err
	}
	if k := len(n.state.Alloc); k > 0 {
		return fmt.Errorf("%w: %d bridge addresses still allocated", ErrTasksRemain, k)
	}
	// Other nodes sweep the rules of bridges that are gone under this lock.
	unlock, err := lockHost()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	if err := removeRules(ctx, n.ipt, n.bridge); err != nil && !errors.Is(err, errNoIptables) {
		errs = append(errs, fmt.Errorf("remove rules of %s: %w", n.bridge, err))
	}
	if linkExists(n.bridge) {
		if err := ip(ctx, "link", "delete", n.bridge); err != nil && linkExists(n.bridge) {
			errs = append(errs, err)
		}
	}
	for _, f := range []string{n.file, n.file + ".tmp"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	n.bridgeUp, n.loaded = false, false
	if !n.fixed {
		n.prefix, n.gateway = netip.Prefix{}, netip.Addr{}
	}
	return nil
}

// setup gives taskID a network namespace wired to the bridge and returns its
// netns name and address. It is idempotent: an existing netns is rebuilt.
func (n *network) setup(ctx context.Context, taskID string) (netns string, addr netip.Addr, err error) {
	if err := n.ensureBridge(ctx); err != nil {
		return "", netip.Addr{}, fmt.Errorf("bridge %s: %w", n.bridge, err)
	}
	addr, err = n.allocate(taskID)
	if err != nil {
		return "", netip.Addr{}, err
	}
	netns, veth := n.names(taskID)
	defer func() {
		if err != nil {
			_ = n.teardown(context.WithoutCancel(ctx), taskID)
		}
	}()
	if _, statErr := os.Stat(netnsPath(netns)); statErr == nil {
		_ = ip(ctx, "netns", "delete", netns)
	}
	if linkExists(veth) {
		_ = ip(ctx, "link", "delete", veth)
	}
	steps := [][]string{
		{"netns", "add", netns},
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns},
		{"link", "set", veth, "master", n.bridge, "up"},
		{"-n", netns, "link", "set", "lo", "up"},
		{"-n", netns, "addr", "add", netip.PrefixFrom(addr, n.prefix.Bits()).String(), "dev", "eth0"},
		{"-n", netns, "link", "set", "eth0", "up"},
		{"-n", netns, "route", "add", "default", "via", n.gateway.String()},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return "", netip.Addr{}, err
		}
	}
	return netns, addr, nil
}

// teardown removes taskID's netns and veth, its published host ports, and
// frees its address. Idempotent.
func (n *network) teardown(ctx context.Context, taskID string) error {
	netns, veth := n.names(taskID)
	var errs []error
	if addr, ok := n.addrOf(taskID); ok {
		errs = append(errs, n.unpublishHostPorts(ctx, addr))
	}
	if _, err := os.Stat(netnsPath(netns)); err == nil {
		if err := ip(ctx, "netns", "delete", netns); err != nil {
			errs = append(errs, err)
		}
	}
	if linkExists(veth) { // normally gone with the netns (its peer lived there)
		if err := ip(ctx, "link", "delete", veth); err != nil && linkExists(veth) {
			errs = append(errs, err)
		}
	}
	if err := n.release(taskID); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// seed is where the subnet search starts: a hash of the namespace, so that nodes on
// different machines mostly pick different subnets too.
func (n *network) seed() uint32 {
	h := fnv.New32a()
	h.Write([]byte(n.salt))
	return h.Sum32()
}

// pickSubnet returns the first 10.88.N.0/24, N counting up from seed, that overlaps
// none of taken.
func pickSubnet(seed uint32, taken []netip.Prefix) (netip.Prefix, error) {
	for i := uint32(0); i < 256; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 88, byte((seed + i) % 256), 0}), 24)
		if !overlapsAny(p, taken) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: every 10.88.N.0/24 is in use on this host; set a bridge subnet", errNoAddress)
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// hostPrefixes lists the IPv4 subnets of the host's interfaces: those of the bridge
// named own apart.
func hostPrefixes(own string) (others, owns []netip.Prefix, err error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, nil, fmt.Errorf("list host interfaces: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // gone meanwhile
		}
		for _, a := range addrs {
			in, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			p, err := netip.ParsePrefix(in.String())
			if err != nil || !p.Addr().Is4() {
				continue
			}
			if ifc.Name == own {
				owns = append(owns, p.Masked())
			} else {
				others = append(others, p.Masked())
			}
		}
	}
	return others, owns, nil
}

// hostLockPath serialises bridge subnet choices of every shoal node on the host.
var hostLockPath = "/run/shoal-bridges.lock"

func lockHost() (unlock func(), err error) {
	f, err := os.OpenFile(hostLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bridge lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("bridge lock %s: %w", hostLockPath, err)
	}
	return func() { f.Close() }, nil
}
