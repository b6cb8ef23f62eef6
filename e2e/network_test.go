package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestNetworkBadInputIsRefused: each bad network or service --network
// input fails naming the field, and creates nothing.
func TestNetworkBadInputIsRefused(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	with := func(args ...string) []string { return append([]string{"--data-dir", m1.dir}, args...) }
	mustRun(t, with("network", "create", "--subnet", "10.10.0.0/24", "front")...)
	mustRun(t, with("service", "create", "--name", "web", "--replicas", "0", "--detach", "--network", "front", "--process", "--", "true")...)
	state := func() string {
		return mustRun(t, with("network", "ls", "--format", "json")...) + mustRun(t, with("service", "ls", "-q")...)
	}
	before := state()
	checkBad(t, m1, []badCase{
		{name: "overlapping subnet", args: with("network", "create", "--subnet", "10.10.0.0/16", "n1"), want: "spec.subnet 10.10.0.0/16: overlaps 10.10.0.0/24"},
		{name: "subnet /31", args: with("network", "create", "--subnet", "10.11.0.0/31", "n1"), want: "/31"},
		{name: "subnet larger than /8", args: with("network", "create", "--subnet", "10.0.0.0/7", "n1"), want: "spec.subnet"},
		{name: "subnet over the node bridges", args: with("network", "create", "--subnet", "10.88.1.0/24", "n1"), want: "node-local"},
		{name: "gateway outside the subnet", args: with("network", "create", "--subnet", "10.12.0.0/24", "--gateway", "10.13.0.1", "n1"), want: "spec.gateway"},
		{name: "name not a DNS label", args: with("network", "create", "my_net"), want: "spec.name"},
		{name: "unknown driver", args: with("network", "create", "--driver", "macvlan", "n1"), want: "spec.driver"},
		{name: "bad label", args: with("network", "create", "--label", "novalue", "n1"), want: "key=value"},
		{name: "unknown network on a service", args: with("service", "create", "--name", "api", "--detach", "--network", "nosuch", "--process", "--", "true"), want: "spec.networks[0]"},
		{name: "unknown network on update", args: with("service", "update", "--detach", "--network-add", "nosuch", "web"), want: "not found"},
		{name: "network mode on a process", args: with("service", "create", "--name", "api", "--detach", "--network", "host", "--process", "--", "true"), want: "--network: container-only"},
		{name: "removing a network in use", args: with("network", "rm", "front"), want: "in use by service(s) web"},
		{name: "inspect unknown", args: with("network", "inspect", "nosuch"), want: "not found"},
	})
	if after := state(); after != before {
		t.Fatalf("bad input changed networks or services\nbefore: %s\nafter: %s", before, after)
	}
}

// TestNetworkAddressesFollowTasks: the tasks of a service on a network get
// distinct addresses of its subnet and the service a VIP; scaling down
// releases addresses that scaling up hands out again; the network cannot
// be removed until the service is; a full network leaves a task waiting
// with the reason.
func TestNetworkAddressesFollowTasks(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks, "--raft-tick", "50ms")
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	with := func(args ...string) []string { return append([]string{"--data-dir", m1.dir}, args...) }
	mustRun(t, with("network", "create", "--subnet", "10.20.0.0/24", "--label", "team=a", "front")...)
	nets, err := parseList[shoalv1.Network](mustRun(t, with("network", "inspect", "front")...), "network")
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || nets[0].GetVni() < 4096 || nets[0].GetGateway() != "10.20.0.1" || nets[0].GetSpec().GetLabels()["team"] != "a" {
		t.Fatalf("inspect front = %v", nets)
	}
	netID := nets[0].GetId()
	subnet := netip.MustParsePrefix("10.20.0.0/24")

	mark := plMark(t, "net")
	marks = append(marks, mark)
	mustRun(t, with("service", "create", "--name", "web", "--replicas", "3", "--network", "front", "--process", "--", "sh", "-c", "sleep 600", mark)...)
	first := liveAddresses(t, m1, "web", netID, subnet, 3)
	svc := inspectService(t, m1, "web")
	if got := svc.GetSpec().GetNetworks(); !slices.Equal(got, []string{netID}) {
		t.Fatalf("stored networks %v, want [%s]", got, netID)
	}
	vips := svc.GetEndpoint().GetVirtualIps()
	if len(vips) != 1 || vips[0].GetNetworkId() != netID || !inSubnet(vips[0].GetAddresses()[0], subnet) || slices.Contains(first, vips[0].GetAddresses()[0]) {
		t.Fatalf("VIPs %v; task addresses %v", vips, first)
	}

	mustRun(t, with("service", "scale", "web=1")...)
	kept := liveAddresses(t, m1, "web", netID, subnet, 1)
	mustRun(t, with("service", "scale", "web=3")...)
	again := liveAddresses(t, m1, "web", netID, subnet, 3)
	if !slices.Equal(again, first) || !slices.Contains(again, kept[0]) {
		t.Fatalf("after scale 3 -> 1 -> 3 the addresses are %v, want the released ones reused: %v", again, first)
	}

	// The leader's allocator asked the ipam Wasm plugin, which never failed.
	ps, err := parseList[shoalv1.GetPluginResponse](mustRun(t, with("plugin", "inspect", "ipam")...), "plugin")
	if err != nil || len(ps) != 1 || ps[0].GetStats().GetCalls() == 0 || ps[0].GetStats().GetFailures() != 0 || !ps[0].GetStats().GetActive() {
		t.Fatalf("ipam plugin stats: %v %v", ps, err)
	}

	// Attaching it to a second network gives it a VIP there too.
	mustRun(t, with("network", "create", "back")...)
	mustRun(t, with("service", "update", "--detach", "--network-add", "back", "web")...)
	eventually(t, 60*time.Second, "a VIP on each network", func() error {
		if v := inspectService(t, m1, "web").GetEndpoint().GetVirtualIps(); len(v) != 2 {
			return fmt.Errorf("VIPs %v", v)
		}
		return nil
	})
	for _, n := range []string{"front", "back"} {
		if r := m1.cli(t, "network", "rm", n); r.Code == 0 || !strings.Contains(r.Stderr, "web") {
			t.Fatalf("network rm of %s in use: %s", n, r)
		}
	}
	mustRun(t, with("service", "update", "--detach", "--network-rm", "back", "web")...)
	mustRun(t, with("network", "rm", "back")...)
	mustRun(t, with("service", "rm", "web")...)
	mustRun(t, with("network", "rm", "front")...)

	// A full network leaves a task waiting, saying why.
	mustRun(t, with("network", "create", "--subnet", "10.30.0.0/29", "tiny")...) // 5 addresses: a VIP, 4 tasks
	mustRun(t, with("service", "create", "--name", "full", "--replicas", "5", "--detach", "--network", "tiny", "--process", "--", "sh", "-c", "sleep 600", mark)...)
	eventually(t, 60*time.Second, "4 tasks running and one waiting for an address", func() error {
		ts, err := serviceTasks(t, m1, "full")
		if err != nil {
			return err
		}
		running, waiting := 0, 0
		for _, tk := range ts {
			switch {
			case isRunning(tk):
				running++
			case tk.GetStatus().GetState() == shoalv1.TaskState_TASK_STATE_NEW && tk.GetStatus().GetErr() == "network tiny has no free addresses":
				waiting++
			}
		}
		if running != 4 || waiting != 1 {
			return fmt.Errorf("%d running, %d waiting", running, waiting)
		}
		return nil
	})
	if out := mustRun(t, with("service", "ps", "full")...); !strings.Contains(out, "network tiny has no free addresses") {
		t.Fatalf("service ps does not say why a task waits:\n%s", out)
	}
	mustRun(t, with("service", "rm", "full")...)
	mustRun(t, with("network", "rm", "tiny")...)
	// What is left is the ingress network shoal init creates.
	left, err := parseList[shoalv1.Network](mustRun(t, with("network", "ls", "--format", "json")...), "network")
	if err != nil || len(left) != 1 || !left[0].GetSpec().GetIngress() || left[0].GetSpec().GetName() != "ingress" {
		t.Fatalf("network ls after rm: %v (%v), want only the ingress network", left, err)
	}
}

// liveAddresses waits until the service has want running tasks and no
// other task holding an address, and returns their addresses on netID,
// sorted, after checking they are distinct and inside subnet.
func liveAddresses(t *testing.T, m *manager, svc, netID string, subnet netip.Prefix, want int) []string {
	t.Helper()
	var addrs []string
	eventually(t, 60*time.Second, fmt.Sprintf("%d running tasks of %s with addresses", want, svc), func() error {
		ts, err := serviceTasks(t, m, svc)
		if err != nil {
			return err
		}
		addrs = addrs[:0]
		for _, tk := range ts {
			if tk.GetStatus().GetState() >= shoalv1.TaskState_TASK_STATE_COMPLETE {
				continue
			}
			if !isRunning(tk) || !wantRunning(tk) {
				return fmt.Errorf("task %s is %v (desired %v)", tk.GetId(), tk.GetStatus().GetState(), tk.GetDesiredState())
			}
			at := tk.GetNetworks()
			if len(at) != 1 || at[0].GetNetworkId() != netID || len(at[0].GetAddresses()) != 1 {
				return fmt.Errorf("task %s attachments %v", tk.GetId(), at)
			}
			addrs = append(addrs, at[0].GetAddresses()[0])
		}
		if len(addrs) != want {
			return fmt.Errorf("%d live tasks, want %d", len(addrs), want)
		}
		return nil
	})
	sort.Strings(addrs)
	for i, a := range addrs {
		if !inSubnet(a, subnet) || (i > 0 && addrs[i-1] == a) {
			t.Fatalf("task addresses %v: want distinct addresses in %s", addrs, subnet)
		}
	}
	return slices.Clone(addrs)
}

func inSubnet(cidr string, subnet netip.Prefix) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.Bits() == subnet.Bits() && subnet.Contains(p.Addr())
}

func inspectService(t *testing.T, m *manager, svc string) *shoalv1.Service {
	t.Helper()
	out := mustRun(t, "--data-dir", m.dir, "service", "inspect", svc)
	ss, err := parseList[shoalv1.GetServiceResponse](out, "service")
	if err != nil || len(ss) != 1 {
		t.Fatalf("service inspect %s: %v\n%s", svc, err, out)
	}
	return ss[0].GetService()
}
