// Package testhost gives a test several hosts on one machine: network
// namespaces joined by a bridge (one veth pair each), every host with an
// address from a test-only range (10.213.N.0/24) that exists only inside
// those namespaces, and link faults made with iptables rules inside the
// hosts' own namespaces: cut a host off both ways or one way, drop a share
// of its packets, heal. Programs run in a host with Host.Command.
//
// It needs root, ip (iproute2) and iptables (scripts/install-deps.sh).
// Without them a test is skipped, unless CI=true or SHOAL_REQUIRE_ROOT=1:
// then it fails, so CI never passes by skipping. Everything it creates is
// named shl-<id>-… (links shl<id>…, the kernel allows 15 bytes) and is
// removed when the test ends, failed or not; no traffic leaves the
// namespaces it creates.
package testhost

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Net is a set of hosts on one bridge.
type Net struct {
	t      testing.TB
	id     string
	bridge string
	hosts  []*Host
}

// Host is one network namespace with one address on the bridge.
type Host struct {
	Name string
	// NS is the network namespace's name (ip netns).
	NS   string
	Addr netip.Addr
	net  *Net
	veth string
}

// Require skips the test when this machine cannot make test hosts, or
// fails it when CI=true or SHOAL_REQUIRE_ROOT=1.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"ip", "iptables", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("test hosts need %s (run scripts/install-deps.sh as root)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" || os.Getenv("SHOAL_REQUIRE_ROOT") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// New makes one host per name, all on one new bridge, and removes them all
// when the test ends.
func New(t testing.TB, names ...string) *Net {
	t.Helper()
	Require(t)
	if len(names) == 0 || len(names) > 200 {
		t.Fatalf("testhost: %d hosts; want 1 to 200", len(names))
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n := &Net{t: t, id: hex.EncodeToString(b)[:5]}
	n.bridge = "shl" + n.id + "b"
	subnet := 1 + int(b[2])%250 // the third octet: nets of parallel tests rarely share one, and never a bridge
	t.Cleanup(n.remove)
	n.must("ip", "link", "add", n.bridge, "type", "bridge", "nf_call_iptables", "0")
	n.must("ip", "link", "set", n.bridge, "up")
	for i, name := range names {
		h := &Host{
			Name: name,
			NS:   "shl-" + n.id + "-" + name,
			Addr: netip.AddrFrom4([4]byte{10, 213, byte(subnet), byte(10 + i)}),
			net:  n,
			veth: fmt.Sprintf("shl%sv%d", n.id, i),
		}
		n.hosts = append(n.hosts, h)
		n.addHost(h)
	}
	return n
}

func (n *Net) addHost(h *Host) {
	n.t.Helper()
	n.must("ip", "netns", "add", h.NS)
	n.must("ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	n.must("ip", "link", "set", h.veth, "master", n.bridge, "up")
	n.must("ip", "-n", h.NS, "addr", "add", h.Addr.String()+"/24", "dev", "eth0")
	n.must("ip", "-n", h.NS, "link", "set", "eth0", "up")
	n.must("ip", "-n", h.NS, "link", "set", "lo", "up")
}

// remove deletes the veths (a namespace's teardown, which would take its
// end with it, can lag behind), the namespaces and the bridge.
func (n *Net) remove() {
	for _, h := range n.hosts {
		n.try("ip", "link", "del", h.veth)
		n.try("ip", "netns", "del", h.NS)
	}
	n.try("ip", "link", "del", n.bridge)
}

// try runs a cleanup step, logging a failure.
func (n *Net) try(name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		n.t.Logf("testhost: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func (n *Net) must(name string, args ...string) {
	n.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		n.t.Fatalf("testhost: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Bridge is the name of the bridge all hosts are on (in the test's own
// namespace): capture there to see what crosses the wire between hosts.
func (n *Net) Bridge() string { return n.bridge }

// Hosts returns the hosts in the order they were named.
func (n *Net) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// Host returns the host called name, or nil.
func (n *Net) Host(name string) *Host {
	for _, h := range n.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Others returns every host of the net but h.
func (n *Net) Others(h *Host) []*Host {
	var out []*Host
	for _, o := range n.hosts {
		if o != h {
			out = append(out, o)
		}
	}
	return out
}

// HealAll removes every fault of every host.
func (n *Net) HealAll() {
	n.t.Helper()
	for _, h := range n.hosts {
		h.Heal()
	}
}

// Command is name args... to be run inside h's network namespace. The
// process is the program itself (nsenter does not fork), so signals reach
// it. Unlike ip netns exec, nsenter keeps the machine's mount namespace, so
// the named network namespaces the program bind-mounts under /var/run/netns
// (a containerd node's task namespaces) are seen by containerd and runc.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + h.NS, "--", name}, args...)...)
}

// Exec runs name args... in h's namespace to completion and returns its
// combined output.
func (h *Host) Exec(name string, args ...string) (string, error) {
	out, err := h.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s on %s: %w: %s", name, h.Name, err, out)
	}
	return string(out), nil
}

// HostPort is h's address with port.
func (h *Host) HostPort(port int) string {
	return netip.AddrPortFrom(h.Addr, uint16(port)).String()
}

// Direction says which packets a fault drops, as seen from the host it is
// set on.
type Direction int

const (
	// Both drops what the host sends to the peers and what it receives.
	Both Direction = iota
	// Inbound drops what the host receives from the peers: it can send
	// but not receive.
	Inbound
	// Outbound drops what the host sends to the peers: it can receive
	// but not send.
	Outbound
)

func (d Direction) String() string {
	return [...]string{"both ways", "inbound", "outbound"}[d]
}

// Cut drops h's packets with peers (every other host when none is named)
// in direction d, until Heal.
func (h *Host) Cut(d Direction, peers ...*Host) {
	h.net.t.Helper()
	h.drop(d, nil, peers)
}

// Lossy drops about percent % of h's packets with peers (every other host
// when none is named) in direction d, until Heal: a bad link, where TCP
// retransmits and slows down.
func (h *Host) Lossy(d Direction, percent int, peers ...*Host) {
	h.net.t.Helper()
	if percent <= 0 || percent > 100 {
		h.net.t.Fatalf("testhost: lossy %d%%; want 1 to 100", percent)
	}
	h.drop(d, []string{"-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.2f", float64(percent)/100)}, peers)
}

func (h *Host) drop(d Direction, match []string, peers []*Host) {
	h.net.t.Helper()
	if len(peers) == 0 {
		peers = h.net.Others(h)
	}
	for _, p := range peers {
		if d == Both || d == Inbound {
			h.iptables(append(append([]string{"-A", "INPUT", "-s", p.Addr.String()}, match...), "-j", "DROP")...)
		}
		if d == Both || d == Outbound {
			h.iptables(append(append([]string{"-A", "OUTPUT", "-d", p.Addr.String()}, match...), "-j", "DROP")...)
		}
	}
}

// Heal removes every fault set on h.
func (h *Host) Heal() {
	h.net.t.Helper()
	h.iptables("-F", "INPUT")
	h.iptables("-F", "OUTPUT")
}

func (h *Host) iptables(args ...string) {
	h.net.t.Helper()
	if _, err := h.Exec("iptables", append([]string{"-w"}, args...)...); err != nil {
		h.net.t.Fatalf("testhost: %v", err)
	}
}
