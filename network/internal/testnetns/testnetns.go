// Package testnetns gives root tests throwaway network namespaces, named
// shl-dnslb-<name> so that they never collide with other tests on the machine, joined
// by veth pairs and addressed from a test-only range. Every namespace is deleted when
// its test ends.
package testnetns

import (
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shoal-project/shoal/network/internal/nsexec"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "shl-dnslb-"

// RequireRoot skips the test when it does not run as root, unless CI is set: on CI a
// missing privilege is a failure, never a silent skip.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "" {
		t.Skip("needs root to create network namespaces")
	}
	t.Fatal("needs root to create network namespaces (CI is set, so this fails instead of skipping)")
}

// NS is one test network namespace with a netlink handle inside it.
type NS struct {
	Name   string
	Path   string
	Handle netns.NsHandle
	Link   *netlink.Handle
}

// New creates the namespace shl-dnslb-<name> with its loopback up.
func New(t testing.TB, name string) *NS {
	t.Helper()
	RequireRoot(t)
	full := Prefix + name
	_ = netns.DeleteNamed(full) // left over by a killed run
	h, err := newNamed(full)
	if err != nil {
		t.Fatalf("create network namespace %s: %v", full, err)
	}
	ns := &NS{Name: full, Path: "/var/run/netns/" + full, Handle: h}
	t.Cleanup(func() {
		if ns.Link != nil {
			ns.Link.Close()
		}
		_ = h.Close()
		if err := netns.DeleteNamed(full); err != nil {
			t.Errorf("delete network namespace %s: %v", full, err)
		}
	})
	if ns.Link, err = netlink.NewHandleAt(h); err != nil {
		t.Fatalf("netlink handle in %s: %v", full, err)
	}
	ns.up(t, "lo")
	return ns
}

// newNamed creates a bound namespace; netns.NewNamed leaves the calling thread in it,
// so it runs on a thread that nsexec puts back.
func newNamed(name string) (h netns.NsHandle, err error) {
	err = nsexec.OnThread(func() error {
		h, err = netns.NewNamed(name)
		return err
	})
	return h, err
}

// Do runs f on a thread inside the namespace.
func (n *NS) Do(f func() error) error { return nsexec.DoHandle(n.Handle, f) }

// MustDo is Do that ends the test when f fails.
func (n *NS) MustDo(t testing.TB, f func() error) {
	t.Helper()
	if err := n.Do(f); err != nil {
		t.Fatalf("in %s: %v", n.Name, err)
	}
}

// Veth joins a and b with a veth pair (aIf in a, bIf in b), each end up and addressed.
func Veth(t testing.TB, a *NS, aIf string, aAddr netip.Prefix, b *NS, bIf string, bAddr netip.Prefix) {
	t.Helper()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aIf},
		PeerName:      bIf,
		PeerNamespace: netlink.NsFd(b.Handle),
	}
	if err := a.Link.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s/%s: %v", aIf, bIf, err)
	}
	a.AddAddr(t, aIf, aAddr)
	b.AddAddr(t, bIf, bAddr)
	a.up(t, aIf)
	b.up(t, bIf)
}

// AddAddr adds an address to the interface ifname of the namespace.
func (n *NS) AddAddr(t testing.TB, ifname string, p netip.Prefix) {
	t.Helper()
	link, err := n.Link.LinkByName(ifname)
	if err != nil {
		t.Fatalf("%s: find %s: %v", n.Name, ifname, err)
	}
	addr, err := netlink.ParseAddr(p.String())
	if err != nil {
		t.Fatalf("parse %s: %v", p, err)
	}
	if err := n.Link.AddrAdd(link, addr); err != nil {
		t.Fatalf("%s: add %s to %s: %v", n.Name, p, ifname, err)
	}
}

func (n *NS) up(t testing.TB, ifname string) {
	t.Helper()
	link, err := n.Link.LinkByName(ifname)
	if err != nil {
		t.Fatalf("%s: find %s: %v", n.Name, ifname, err)
	}
	if err := n.Link.LinkSetUp(link); err != nil {
		t.Fatalf("%s: set %s up: %v", n.Name, ifname, err)
	}
}
