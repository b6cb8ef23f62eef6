package netagent

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/gossip"
	"github.com/shoal-project/shoal/network/overlay"
)

type harness struct {
	t      *testing.T
	rec    *recorder
	dp     *fakeDataplane
	gossip *fakeGossip
	nets   map[string]*fakeTaskNet
	agent  *Agent
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, rec: &recorder{}, nets: map[string]*fakeTaskNet{}}
	h.dp = &fakeDataplane{rec: h.rec, peers: map[string][]overlay.Peer{}}
	h.gossip = &fakeGossip{rec: h.rec, changes: make(chan gossip.Change, 16)}
	open := func(path string) (TaskNet, error) {
		n := &fakeTaskNet{rec: h.rec, path: path}
		h.rec.rec(func() { h.nets[path] = n })
		return n, nil
	}
	openMesh := func(path string) Mesh {
		h.rec.add("mesh-open %s", path)
		return &fakeMesh{rec: h.rec}
	}
	a, err := New(Config{Dataplane: h.dp, Gossip: h.gossip, OpenTask: open, OpenMesh: openMesh, NodeNetns: "/node"})
	if err != nil {
		t.Fatal(err)
	}
	h.agent = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return h
}

// sync waits until the agent has handled everything sent before.
func (h *harness) sync() {
	h.t.Helper()
	for len(h.gossip.changes) > 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := h.agent.Entries(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) expect(want ...string) {
	h.t.Helper()
	h.sync()
	if got := h.rec.take(); !reflect.DeepEqual(got, want) {
		h.t.Fatalf("calls:\n got %q\nwant %q", got, want)
	}
}

var web = Network{ID: "n1", Name: "front", VNI: 4097, Subnet: prefix("10.0.1.0/24"), VIPs: []VIP{
	{ServiceID: "id-web", ServiceName: "web", Addr: addr("10.0.1.2")},
}}

func clientTask() Task {
	return Task{ID: "c1", Name: "client.1.c1", ServiceID: "id-client", ServiceName: "client",
		Addrs: map[string]netip.Prefix{"n1": prefix("10.0.1.12/24")}}
}

func TestAttachPublishesAndRemotePeersReachDataplaneAndTask(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	if err := h.agent.SetNetworks(ctx, []Network{web}); err != nil {
		t.Fatal(err)
	}
	h.expect()
	if err := h.agent.Attach(ctx, clientTask(), "/proc/1/ns/net"); err != nil {
		t.Fatal(err)
	}
	h.expect("ensure n1 vni=4097", "attach n1 c1 10.0.1.12/24 /proc/1/ns/net",
		"publish n1 c1 10.0.1.12/24 client", "peers n1 0", "lb /proc/1/ns/net 1")

	h.gossip.changes <- gossip.Change{Kind: gossip.Added, Entry: entry("n1", "w1", "web", "10.0.1.10", "192.0.2.2")}
	h.expect("peers n1 1", "lb /proc/1/ns/net 1")
	tn := h.nets["/proc/1/ns/net"]
	h.rec.rec(func() {
		if got := tn.services[0].Backends; !reflect.DeepEqual(got, []netip.Addr{addr("10.0.1.10")}) {
			t.Errorf("VIP backends = %v, want the remote web task", got)
		}
		if got := tn.records.Services["web"].Tasks; !reflect.DeepEqual(got, []netip.Addr{addr("10.0.1.10")}) {
			t.Errorf("tasks.web = %v, want the remote web task", got)
		}
	})

	h.gossip.changes <- gossip.Change{Kind: gossip.Removed, Entry: entry("n1", "w1", "web", "10.0.1.10", "192.0.2.2")}
	h.expect("peers n1 0", "lb /proc/1/ns/net 1")
}

func TestDetachWithdrawsAndRemovesTheUnusedNetwork(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	if err := h.agent.SetNetworks(ctx, []Network{web}); err != nil {
		t.Fatal(err)
	}
	if err := h.agent.Attach(ctx, clientTask(), "/proc/1/ns/net"); err != nil {
		t.Fatal(err)
	}
	h.sync() // the attach's own VIP programming lands before the calls are dropped
	h.rec.take()
	if err := h.agent.Detach(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	h.expect("withdraw c1", "close /proc/1/ns/net", "detach n1 c1", "remove-network n1")
	if err := h.agent.Detach(ctx, "c1"); err != nil {
		t.Fatalf("second Detach = %v, want a no-op", err)
	}
	h.expect()
}

func TestAttachToUnknownNetworkFailsNamingIt(t *testing.T) {
	h := newHarness(t)
	err := h.agent.Attach(context.Background(), clientTask(), "/proc/1/ns/net")
	if !errors.Is(err, ErrUnknownNetwork) {
		t.Fatalf("Attach = %v, want ErrUnknownNetwork", err)
	}
	h.expect()
}

func TestNewNamesTheMissingDependency(t *testing.T) {
	_, err := New(Config{Gossip: &fakeGossip{}, OpenTask: func(string) (TaskNet, error) { return nil, nil }})
	if err == nil || !contains(err.Error(), "Dataplane") {
		t.Fatalf("New = %v, want an error naming Dataplane", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
