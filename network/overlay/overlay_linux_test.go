//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// setUpBoth ensures the network and attaches each host's task, then gives
// both the full attachment table (each skips its own entry).
func setUpBoth(t testing.TB, hosts ...*host) {
	t.Helper()
	setUpNetwork(t, testNetwork(), hosts...)
}

// setUpNetwork sets up the network, one task on each host and the peers.
func setUpNetwork(t testing.TB, cfg NetworkConfig, hosts ...*host) {
	t.Helper()
	var peers []Peer
	for _, h := range hosts {
		peers = append(peers, h.peer(t))
	}
	for _, h := range hosts {
		if err := h.m.EnsureNetwork(cfg); err != nil {
			t.Fatal(err)
		}
		if err := h.m.Attach(h.endpoint()); err != nil {
			t.Fatal(err)
		}
		if err := h.m.SetPeers(testNetID, peers); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTasksOnTwoHostsReachEachOtherOverVXLAN(t *testing.T) {
	h1, h2 := newTestbed(t)
	setUpBoth(t, h1, h2)
	echo := serveEcho(t, h2.task, h2.taskAddr.Addr())
	eventually(t, "tcp h1->h2 and ping h2->h1", reachable(t, h1, h2, echo))

	t.Run("task interface has derived MAC, reduced MTU and the address", func(t *testing.T) {
		link, err := netlinkAt(t, openNetns(t, h1.task)).LinkByName("eth1")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := link.Attrs().HardwareAddr.String(), "02:42:0a:d5:c8:01"; got != want {
			t.Errorf("MAC = %s, want %s", got, want)
		}
		if got := link.Attrs().MTU; got != 1450 {
			t.Errorf("MTU = %d, want 1450 (underlay 1500 - 50)", got)
		}
		if err := ping(openNetns(t, h1.task), netip.MustParseAddr(testGateway), 5*time.Second); err != nil {
			t.Errorf("ping the gateway on the sandbox bridge: %v", err)
		}
	})

	t.Run("removing the peer cuts traffic, adding it back restores it", func(t *testing.T) {
		if err := h1.m.RemovePeer(testNetID, h2.peer(t)); err != nil {
			t.Fatal(err)
		}
		if err := tcpEcho(openNetns(t, h1.task), echo, 2*time.Second); err == nil {
			t.Fatal("tcp to h2's task succeeded without a peer entry")
		}
		if err := h1.m.AddPeer(testNetID, h2.peer(t)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "tcp after AddPeer", reachable(t, h1, h2, echo))
	})

	t.Run("SetPeers without the remote removes its entries", func(t *testing.T) {
		if err := h1.m.SetPeers(testNetID, []Peer{h1.peer(t)}); err != nil {
			t.Fatal(err)
		}
		if err := tcpEcho(openNetns(t, h1.task), echo, 2*time.Second); err == nil {
			t.Fatal("tcp to h2's task succeeded after SetPeers dropped it")
		}
		if err := h1.m.SetPeers(testNetID, []Peer{h1.peer(t), h2.peer(t)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "tcp after SetPeers", reachable(t, h1, h2, echo))
	})

	t.Run("detaching the last task removes its interface and the sandbox", func(t *testing.T) {
		if err := h2.m.Detach(testNetID, h2.endpoint().TaskID); err != nil {
			t.Fatal(err)
		}
		if names := linkNames(t, h2.task); slices.Contains(names, "eth1") {
			t.Errorf("task links after Detach = %v, want no eth1", names)
		}
		if left, _ := namedNetnsWithPrefix(h2.config().SandboxPrefix); len(left) > 0 {
			t.Errorf("sandboxes after the last Detach = %v, want none", left)
		}
		if err := tcpEcho(openNetns(t, h1.task), echo, 2*time.Second); err == nil {
			t.Fatal("tcp to a detached task succeeded")
		}
		if err := h2.m.Detach(testNetID, h2.endpoint().TaskID); err != nil {
			t.Errorf("second Detach: %v, want nil", err)
		}
	})

	t.Run("Cleanup leaves no sandbox, vxlan or task interface", func(t *testing.T) {
		addStaleHostVXLAN(t, h1, testVNI+1) // testVNI is still in use on h1
		for _, h := range []*host{h1, h2} {
			if err := h.m.Cleanup(); err != nil {
				t.Fatal(err)
			}
			if left, _ := namedNetnsWithPrefix(h.config().SandboxPrefix); len(left) > 0 {
				t.Errorf("%s: sandboxes after Cleanup = %v", h.name, left)
			}
			if names := linkNames(t, h.name); hasLinkWithPrefix(names, hostVXLANPrefix) {
				t.Errorf("%s: host links after Cleanup = %v", h.name, names)
			}
			if names := linkNames(t, h.task); slices.Contains(names, "eth1") {
				t.Errorf("%s: task links after Cleanup = %v", h.task, names)
			}
		}
	})
}

func TestNewManagerAdoptsExistingDevices(t *testing.T) {
	h1, h2 := newTestbed(t)
	setUpBoth(t, h1, h2)
	echo := serveEcho(t, h2.task, h2.taskAddr.Addr())
	eventually(t, "traffic before the restart", reachable(t, h1, h2, echo))
	before := sandboxIndexes(t, h1)

	if err := h1.m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := New(h1.config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	h1.m = m
	if got, err := m.Networks(); err != nil || !slices.Equal(got, []string{testNetID}) {
		t.Errorf("Networks() after restart = %v, %v; want [%s]", got, err, testNetID)
	}
	if got, err := m.Endpoints(testNetID); err != nil || !slices.Equal(got, []string{h1.endpoint().TaskID}) {
		t.Errorf("Endpoints() after restart = %v, %v; want [%s]", got, err, h1.endpoint().TaskID)
	}
	setUpBoth(t, h1, h2)

	if after := sandboxIndexes(t, h1); !slices.Equal(before, after) {
		t.Errorf("device indexes after restart = %v, want the adopted %v", after, before)
	}
	eventually(t, "traffic after the restart", reachable(t, h1, h2, echo))
}

func TestEnsureNetworkReplacesVXLANLeftInHostNamespace(t *testing.T) {
	h1, h2 := newTestbed(t)
	addStaleHostVXLAN(t, h1, testVNI)
	setUpBoth(t, h1, h2)
	eventually(t, "traffic", reachable(t, h1, h2, serveEcho(t, h2.task, h2.taskAddr.Addr())))
	if names := linkNames(t, h1.name); hasLinkWithPrefix(names, hostVXLANPrefix) {
		t.Errorf("host links = %v, want no %s device left", names, hostVXLANPrefix)
	}
}

func TestEnsureNetworkRecoversFromCrashBeforeRename(t *testing.T) {
	h1, h2 := newTestbed(t)
	if err := h1.m.EnsureNetwork(testNetwork()); err != nil {
		t.Fatal(err)
	}
	nl := netlinkAt(t, openNetns(t, sandboxName(h1.config().SandboxPrefix, testNetID)))
	vx, err := nl.LinkByName(vxlanName)
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.LinkSetDown(vx); err != nil {
		t.Fatal(err)
	}
	if err := nl.LinkSetName(vx, hostVXLANName(testVNI)); err != nil { // as if moved but not renamed
		t.Fatal(err)
	}
	setUpBoth(t, h1, h2)
	eventually(t, "traffic", reachable(t, h1, h2, serveEcho(t, h2.task, h2.taskAddr.Addr())))
}

func TestAttachToUnknownNetworkFails(t *testing.T) {
	h1, _ := newTestbed(t)
	err := h1.m.Attach(h1.endpoint())
	if !errors.Is(err, ErrNetworkNotFound) {
		t.Fatalf("Attach before EnsureNetwork = %v, want ErrNetworkNotFound", err)
	}
}

// addStaleHostVXLAN leaves a device as a crash between creating the VXLAN
// device and moving it into its sandbox would.
func addStaleHostVXLAN(t testing.TB, h *host, vni int) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostVXLANName(vni)
	stale := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: vni, Port: 4789}
	if err := netlinkAt(t, openNetns(t, h.name)).LinkAdd(stale); err != nil {
		t.Fatal(err)
	}
}

// sandboxIndexes returns the ifindexes of h's bridge, vxlan and veth ends.
func sandboxIndexes(t testing.TB, h *host) []int {
	t.Helper()
	var idx []int
	for _, l := range links(t, sandboxName(h.config().SandboxPrefix, testNetID)) {
		idx = append(idx, l.Attrs().Index)
	}
	slices.Sort(idx)
	return idx
}

func TestAttachByProcPathOfARunningProcess(t *testing.T) {
	h1, h2 := newTestbed(t)
	nsPath := processInOwnNetns(t)
	h1.taskAddr = netip.MustParsePrefix("10.213.200.9/24") // the process is h1's task here
	ep := h1.endpoint()
	ep.TaskID, ep.NetnsPath = "task-proc", nsPath
	if err := h1.m.EnsureNetwork(testNetwork()); err != nil {
		t.Fatal(err)
	}
	if err := h1.m.Attach(ep); err != nil {
		t.Fatal(err)
	}
	setUpBoth(t, h2)
	peers := []Peer{h1.peer(t), h2.peer(t)}
	for _, h := range []*host{h1, h2} {
		if err := h.m.SetPeers(testNetID, peers); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	echo := serveEcho(t, h2.task, h2.taskAddr.Addr())
	eventually(t, "tcp from the process's netns", func() error { return tcpEcho(ns, echo, 2*time.Second) })
}

// processInOwnNetns starts a process in a new network namespace and returns
// its /proc/PID/ns/net once the process is in it.
func processInOwnNetns(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "120")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	path := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	self, _ := os.Readlink("/proc/self/ns/net")
	eventually(t, "process in its own netns", func() error {
		if got, err := os.Readlink(path); err != nil || got == self {
			return fmt.Errorf("%s -> %s (%v)", path, got, err)
		}
		return nil
	})
	return path
}

func TestConcurrentAttachesEachGetTheirInterface(t *testing.T) {
	h1, _ := newTestbed(t)
	if err := h1.m.EnsureNetwork(testNetwork()); err != nil {
		t.Fatal(err)
	}
	const tasks = 6
	errs := make(chan error, tasks)
	for i := range tasks {
		name := fmt.Sprintf("%sc%d", testPrefix, i)
		ns, err := createNamedNetns(name)
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
		ep := EndpointConfig{NetworkID: testNetID, TaskID: name, NetnsPath: filepath.Join(namedNetnsDir, name),
			Addr: netip.MustParsePrefix(fmt.Sprintf("10.213.200.%d/24", 100+i))}
		go func() { errs <- h1.m.Attach(ep) }()
	}
	for range tasks {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	gateway := netip.MustParseAddr(testGateway)
	for i := range tasks {
		ns := openNetns(t, fmt.Sprintf("%sc%d", testPrefix, i))
		eventually(t, "ping the gateway", func() error { return ping(ns, gateway, 2*time.Second) })
	}
}
