package containerd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// errNoAddress means the node's bridge range is exhausted.
var errNoAddress = errors.New("no free address in the node's bridge range")

// network is the node-local bridge: one netns + veth + address per bridge-mode task.
// Address allocations are persisted so that a restarted agent never hands out an
// address a running container still holds.
type network struct {
	bridge  string
	prefix  netip.Prefix
	gateway netip.Addr
	file    string
	salt    string // makes netns/veth names unique per backend namespace

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

func newNetwork(bridge, subnet, file, salt string) (*network, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 16 {
		return nil, fmt.Errorf("containerd: bridge subnet %q: want an IPv4 prefix between /16 and /30", subnet)
	}
	p = p.Masked()
	return &network{bridge: bridge, prefix: p, gateway: p.Addr().Next(), file: file, salt: salt}, nil
}

func (n *network) load() error {
	if n.loaded {
		return nil
	}
	n.state = ipamState{Subnet: n.prefix.String(), Next: 2, Alloc: map[string]string{}}
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
		if st.Subnet == n.prefix.String() && st.Alloc != nil {
			n.state = st
		}
	}
	n.loaded = true
	return nil
}

func (n *network) save() error {
	data, err := json.Marshal(n.state)
	if err != nil {
		return err
	}
	tmp := n.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, n.file)
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

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

func (n *network) ensureBridge(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bridgeUp && linkExists(n.bridge) {
		return nil
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
	n.bridgeUp = true
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

// teardown removes taskID's netns and veth and frees its address. Idempotent.
func (n *network) teardown(ctx context.Context, taskID string) error {
	netns, veth := n.names(taskID)
	var errs []error
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
