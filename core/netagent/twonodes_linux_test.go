//go:build linux

package netagent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/shoal-project/shoal/core/gossip"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/internal/nsthread"
	"github.com/shoal-project/shoal/internal/testenv"
	"github.com/shoal-project/shoal/network/overlay"
	"github.com/shoal-project/shoal/runtime"
)

// Everything below lives in namespaces named shl-netnode-*, addressed from
// ranges used nowhere else (192.0.2.0/24 underlay, 10.213.77.0/24 overlay).
const (
	nsPrefix   = "shl-netnode-"
	overlayNet = "ntnetwork000000000000001"
	webVIP     = "10.213.77.2"
)

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// testNetns creates shl-netnode-<name> and deletes it when the test ends.
func testNetns(t *testing.T, name string) string {
	full := nsPrefix + name
	_ = exec.Command("ip", "netns", "del", full).Run()
	ipCmd(t, "netns", "add", full)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", full).Run() })
	ipCmd(t, "-n", full, "link", "set", "lo", "up")
	return "/var/run/netns/" + full
}

type testNode struct {
	id       string
	underlay netip.Addr
	path     string
	node     *Node
	member   *gossip.Member
}

func startTestNode(t *testing.T, id, underlay string) *testNode {
	tn := &testNode{id: id, underlay: netip.MustParseAddr(underlay), path: "/var/run/netns/" + nsPrefix + id}
	dp, err := overlay.New(overlay.Config{UnderlayAddr: tn.underlay, HostNetnsPath: tn.path, SandboxPrefix: nsPrefix + "sb" + id + "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Cleanup() })
	tn.node, err = NewNode(NodeConfig{
		Dataplane: dp,
		OpenTask:  NamespaceOpener(nil, nil, nil),
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Gossip stays in the test's namespace, on loopback: memberlist
		// dials from its own goroutines, so it must live in the process's
		// namespace (as a node's does); the underlay it publishes is the
		// node's.
		NewMember: func(keys [][]byte) (Member, error) {
			m, err := gossip.New(gossip.Config{NodeID: id, BindAddr: "127.0.0.1:0", UnderlayAddr: tn.underlay, Keys: keys})
			tn.member = m
			return m, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tn.node.Close() })
	return tn
}

func assignedNetwork() []*shoalv1.NetworkAssignment {
	return []*shoalv1.NetworkAssignment{{Id: overlayNet, Name: "front", Vni: 4377, Subnet: "10.213.77.0/24",
		Vips: []*shoalv1.ServiceVIP{{ServiceId: "svc-web", ServiceName: "web", Address: webVIP + "/24"}}}}
}

func taskSpec(id, service, addr string) *runtime.TaskSpec {
	return &runtime.TaskSpec{TaskID: id, ServiceID: "svc-" + service, ServiceName: service, Slot: 1,
		Networks: []runtime.NetworkAttachment{{NetworkID: overlayNet, Addr: netip.MustParsePrefix(addr)}}}
}

// serveWeb answers every connection on addr (inside the web task's
// namespace) with "web".
func serveWeb(t *testing.T, path, addr string) {
	var ln net.Listener
	err := nsthread.Do(path, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("web"))
			c.Close()
		}
	}()
}

// fetch connects from the client's namespace and reads the answer.
func fetch(path, addr string) (string, error) {
	var c net.Conn
	err := nsthread.Do(path, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// lookup asks the client's embedded DNS server for name's A records.
func lookup(path, name string) ([]string, error) {
	var in *dns.Msg
	err := nsthread.Do(path, func() (err error) {
		m := new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA)
		in, err = dns.Exchange(m, "127.0.0.11:53")
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTwoNodesTasksReachEachOtherByNameVIPAndAddress(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root: network namespaces, VXLAN, nftables")
	}
	ctx := context.Background()
	testNetns(t, "n1")
	testNetns(t, "n2")
	ipCmd(t, "link", "add", nsPrefix+"u1", "netns", nsPrefix+"n1", "type", "veth", "peer", "name", nsPrefix+"u2", "netns", nsPrefix+"n2")
	for _, p := range []struct{ ns, link, addr string }{{"n1", "u1", "192.0.2.1/24"}, {"n2", "u2", "192.0.2.2/24"}} {
		ipCmd(t, "-n", nsPrefix+p.ns, "addr", "add", p.addr, "dev", nsPrefix+p.link)
		ipCmd(t, "-n", nsPrefix+p.ns, "link", "set", nsPrefix+p.link, "up")
	}
	client, web := testNetns(t, "client"), testNetns(t, "web")

	a, b := startTestNode(t, "n1", "192.0.2.1"), startTestNode(t, "n2", "192.0.2.2")
	keys := [][]byte{bytes.Repeat([]byte{7}, 32)}
	for _, tn := range []*testNode{a, b} {
		if err := tn.node.SetNetworks(ctx, assignedNetwork(), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.node.SetGossip(keys, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.node.SetGossip(keys, []string{a.member.Addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.node.Attach(ctx, taskSpec("c1", "client", "10.213.77.11/24"), client); err != nil {
		t.Fatal(err)
	}
	if _, err := b.node.Attach(ctx, taskSpec("w1", "web", "10.213.77.12/24"), web); err != nil {
		t.Fatal(err)
	}
	serveWeb(t, web, "10.213.77.12:8080")

	waitFor(t, "tasks.web resolves to the web task from the client", func() error {
		got, err := lookup(client, "tasks.web")
		if err == nil && !slices.Equal(got, []string{"10.213.77.12"}) {
			ea, _ := a.node.Entries(ctx)
			eb, _ := b.node.Entries(ctx)
			err = fmt.Errorf("tasks.web = %v (client node's table %d entries, web node's %d)", got, len(ea), len(eb))
		}
		return err
	})
	if got, err := lookup(client, "web"); err != nil || !slices.Equal(got, []string{webVIP}) {
		t.Fatalf("web = %v, %v; want the VIP", got, err)
	}
	for _, target := range []string{"10.213.77.12:8080", webVIP + ":8080"} {
		waitFor(t, "the client reaches the web task at "+target, func() error {
			body, err := fetch(client, target)
			if err == nil && body != "web" {
				err = fmt.Errorf("answer %q", body)
			}
			return err
		})
	}

	web2 := testNetns(t, "web2")
	if _, err := b.node.Attach(ctx, taskSpec("w2", "web", "10.213.77.13/24"), web2); err != nil {
		t.Fatal(err)
	}
	if err := b.node.Detach(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the withdrawn web task leaves the client node's table and DNS", func() error {
		return expectView(ctx, a, client, []string{"c1", "w2"}, []string{"10.213.77.13"})
	})
	if err := b.node.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the web node's attachments leave the client node's table when it leaves", func() error {
		return expectView(ctx, a, client, []string{"c1"}, nil)
	})
}

// expectView checks the tasks in tn's gossip table and the answer to
// tasks.web in the client's namespace.
func expectView(ctx context.Context, tn *testNode, client string, tasks, webAddrs []string) error {
	entries, err := tn.node.Entries(ctx)
	if err != nil {
		return err
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.TaskID)
	}
	slices.Sort(got)
	if !slices.Equal(got, tasks) {
		return fmt.Errorf("node %s's table holds tasks %v, want %v", tn.id, got, tasks)
	}
	addrs, err := lookup(client, "tasks.web")
	if err == nil && !slices.Equal(addrs, webAddrs) {
		err = fmt.Errorf("tasks.web = %v, want %v", addrs, webAddrs)
	}
	return err
}
