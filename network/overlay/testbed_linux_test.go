//go:build linux

package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/shoal-project/shoal/network/internal/nsexec"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/network/wireguard"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Test-only names and addresses: everything lives in namespaces the tests
// create (prefix shl-overlay-), and no packet leaves them.
const (
	testPrefix  = "shl-overlay-"
	testNetID   = "ovtestnet0000000000000001"
	testVNI     = 4242
	testSubnet  = "10.213.200.0/24"
	testGateway = "10.213.200.254"
)

// requireRoot skips without root on a developer machine; under CI (CI set)
// a missing privilege fails the test instead of hiding it.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "" {
		t.Skip("needs root: creates network namespaces and VXLAN devices")
	}
	t.Fatal("overlay tests need root under CI")
}

// host is a simulated node: a namespace holding an underlay link, a Manager
// whose host namespace it is, and a task namespace.
type host struct {
	name     string // its netns
	underlay netip.Addr
	task     string // the task's netns
	taskAddr netip.Prefix
	m        *Manager
}

func (h *host) taskPath() string { return filepath.Join(namedNetnsDir, h.task) }

func (h *host) config() Config {
	return Config{
		UnderlayAddr:  h.underlay,
		HostNetnsPath: filepath.Join(namedNetnsDir, h.name),
		SandboxPrefix: h.name + "-ov-",
		EncryptLink:   wireguard.DefaultLinkName, // made by openTunnels
	}
}

func (h *host) endpoint() EndpointConfig {
	return EndpointConfig{NetworkID: testNetID, TaskID: "task-" + h.task, NetnsPath: h.taskPath(), Addr: h.taskAddr}
}

func (h *host) peer(t testing.TB) Peer {
	mac, err := MACFromIP(h.taskAddr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return Peer{Addr: h.taskAddr.Addr(), MAC: mac, NodeAddr: h.underlay}
}

func testNetwork() NetworkConfig {
	return NetworkConfig{ID: testNetID, VNI: testVNI, Subnet: netip.MustParsePrefix(testSubnet), Gateway: netip.MustParseAddr(testGateway)}
}

// newTestbed makes two hosts joined by a veth pair (10.213.77.1 and .2)
// with a task namespace each, and removes every shl-overlay- namespace when
// the test ends.
func newTestbed(t testing.TB) (*host, *host) {
	t.Helper()
	requireRoot(t)
	removeTestNetns(t)
	t.Cleanup(func() { removeTestNetns(t) })
	t.Cleanup(func() { requireThreadsInProcessNetns(t) })
	h1 := &host{name: testPrefix + "h1", underlay: netip.MustParseAddr("10.213.77.1"), task: testPrefix + "t1", taskAddr: netip.MustParsePrefix("10.213.200.1/24")}
	h2 := &host{name: testPrefix + "h2", underlay: netip.MustParseAddr("10.213.77.2"), task: testPrefix + "t2", taskAddr: netip.MustParsePrefix("10.213.200.2/24")}
	ns := map[string]netns.NsHandle{}
	for _, name := range []string{h1.name, h2.name, h1.task, h2.task} {
		h, err := createNamedNetns(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		ns[name] = h
		setLinkUp(t, h, "lo")
	}
	joinUnderlay(t, ns[h1.name], ns[h2.name])
	for _, h := range []*host{h1, h2} {
		m, err := New(h.config())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		h.m = m
	}
	return h1, h2
}

func joinUnderlay(t testing.TB, a, b netns.NsHandle) {
	t.Helper()
	ha := netlinkAt(t, a)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "under0"
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: "under0", PeerNamespace: netlink.NsFd(int(b))}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for i, ns := range []netns.NsHandle{a, b} {
		h := netlinkAt(t, ns)
		link := setLinkUp(t, ns, "under0")
		addr, _ := netlink.ParseAddr(fmt.Sprintf("10.213.77.%d/24", i+1))
		if err := h.AddrAdd(link, addr); err != nil {
			t.Fatal(err)
		}
	}
}

// requireThreadsInProcessNetns fails if any thread of the test process was
// left in another network namespace (a namespace switch not undone).
func requireThreadsInProcessNetns(t testing.TB) {
	t.Helper()
	want, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tasks {
		if got, err := os.Readlink(p); err == nil && got != want {
			t.Errorf("thread %s is in %s, want the process's %s", p, got, want)
		}
	}
}

func netlinkAt(t testing.TB, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func setLinkUp(t testing.TB, ns netns.NsHandle, name string) netlink.Link {
	t.Helper()
	h := netlinkAt(t, ns)
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	return link
}

func removeTestNetns(t testing.TB) {
	names, err := namedNetnsWithPrefix(testPrefix)
	if err != nil {
		t.Error(err)
	}
	for _, name := range names {
		if ns, err := netns.GetFromName(name); err == nil {
			_ = deleteAllLinks(ns)
			ns.Close()
		}
		if err := deleteNamedNetns(name); err != nil {
			t.Error(err)
		}
	}
}

func openNetns(t testing.TB, name string) netns.NsHandle {
	t.Helper()
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// serveEcho listens on port 7 of addr inside a netns and echoes every
// connection until the test ends.
func serveEcho(t testing.TB, nsName string, addr netip.Addr) netip.AddrPort {
	return serveEchoOn(t, nsName, addr, 7)
}

// serveEchoOn echoes every connection on port of addr inside a named netns
// (each for at most a minute) until the test ends.
func serveEchoOn(t testing.TB, nsName string, addr netip.Addr, port uint16) netip.AddrPort {
	ln := listenIn(t, nsName, addr, port)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return netip.AddrPortFrom(addr, port)
}

// tcpEcho dials to from inside a netns, sends a line and expects it back.
func tcpEcho(ns netns.NsHandle, to netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	err := nsexec.DoHandle(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", to.String(), timeout)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("hello over vxlan\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo: got %q", got)
	}
	return nil
}

// ping sends one ICMP echo request from inside a netns and waits for the reply.
func ping(ns netns.NsHandle, to netip.Addr, timeout time.Duration) error {
	var c *icmp.PacketConn
	err := nsexec.DoHandle(ns, func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("shoal")}}).Marshal(nil)
	if _, err := c.WriteTo(req, &net.IPAddr{IP: to.AsSlice()}); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		msg, err := icmp.ParseMessage(1, buf[:n])
		if err == nil && msg.Type == ipv4.ICMPTypeEchoReply && from.String() == to.String() {
			return nil
		}
	}
}

// eventually retries check until it succeeds or a generous deadline passes.
func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 30s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reachable checks a TCP echo from h1's task to h2's and a ping back.
func reachable(t testing.TB, h1, h2 *host, echo netip.AddrPort) func() error {
	t1, t2 := openNetns(t, h1.task), openNetns(t, h2.task)
	return func() error {
		return errors.Join(tcpEcho(t1, echo, 2*time.Second), ping(t2, h1.taskAddr.Addr(), 2*time.Second))
	}
}

// links lists the links of a named netns.
func links(t testing.TB, nsName string) []netlink.Link {
	t.Helper()
	links, err := netlinkAt(t, openNetns(t, nsName)).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	return links
}

func linkNames(t testing.TB, nsName string) []string {
	var names []string
	for _, l := range links(t, nsName) {
		names = append(names, l.Attrs().Name)
	}
	return names
}

func hasLinkWithPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
