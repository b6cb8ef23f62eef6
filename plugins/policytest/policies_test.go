package policytest_test

// The policies' property tests and benchmarks: they draw cluster states
// with rapid, which the sdk module must not require (a plugin author's
// go.sum names nothing but the sdk and protobuf), so they live here in the
// manager's module. The sdk's own tests keep the example-based cases.

import (
	"fmt"
	"net/netip"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/plugins/policytest"
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/binpack"
	"github.com/shoal-project/shoal/sdk/policy/filter"
	"github.com/shoal-project/shoal/sdk/policy/ipam"
	"github.com/shoal-project/shoal/sdk/policy/spread"
)

func TestBinpackValidAnswers(t *testing.T) { policytest.CheckValidAnswers(t, binpack.Schedule) }

func TestFewestNodesForEqualTasks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "nodes")
		perNode := rapid.IntRange(1, 8).Draw(t, "perNode")
		tasks := rapid.IntRange(0, n*perNode).Draw(t, "tasks")
		req := &sdk.ScheduleRequest{Nodes: make([]sdk.Node, n)}
		for i := range req.Nodes {
			mem := int64(perNode) << 30
			req.Nodes[i] = sdk.Node{ID: fmt.Sprint(i), Ready: true, TotalMemoryBytes: mem, FreeMemoryBytes: mem,
				TotalNanoCPUs: 16e9, FreeNanoCPUs: 16e9}
		}
		req.Groups = []sdk.TaskGroup{{ServiceID: "s", Count: uint32(tasks), MemoryBytes: 1 << 30, NanoCPUs: 1e8}}
		resp := binpack.Schedule(req)
		if err := filter.Validate(req, resp); err != nil {
			t.Fatal(err)
		}
		used := map[int32]bool{}
		for _, p := range resp.Groups[0].Placements {
			if p < 0 {
				t.Fatal("unschedulable although everything fits")
			}
			used[p] = true
		}
		if want := (tasks + perNode - 1) / perNode; len(used) != want {
			t.Fatalf("used %d nodes, want %d", len(used), want)
		}
	})
}

func BenchmarkBinpack100kOn2400(b *testing.B) {
	req := policytest.Uniform(2400, 100_000)
	for b.Loop() {
		binpack.Schedule(req)
	}
}

func TestSpreadValidAnswers(t *testing.T) { policytest.CheckValidAnswers(t, spread.Schedule) }

func TestEvenOnEqualNodes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 30).Draw(t, "nodes")
		tasks := rapid.IntRange(0, 200).Draw(t, "tasks")
		req := &sdk.ScheduleRequest{Nodes: make([]sdk.Node, n)}
		for i := range req.Nodes {
			req.Nodes[i] = sdk.Node{ID: fmt.Sprint(i), Ready: true}
		}
		req.Groups = []sdk.TaskGroup{{ServiceID: "s", Count: uint32(tasks)}}
		resp := spread.Schedule(req)
		counts := make([]int, n)
		for _, p := range resp.Groups[0].Placements {
			if p < 0 {
				t.Fatal("unschedulable on an empty cluster")
			}
			counts[p]++
		}
		lo, hi := counts[0], counts[0]
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		if hi-lo > 1 {
			t.Fatalf("uneven spread: %v", counts)
		}
	})
}

func BenchmarkSpread100kOn2400(b *testing.B) {
	req := policytest.Uniform(2400, 100_000)
	b.ResetTimer()
	for b.Loop() {
		spread.Schedule(req)
	}
}

func BenchmarkSpread100kOn2400WithPreferences(b *testing.B) {
	req := policytest.Uniform(2400, 100_000)
	req.Groups[0].Preferences = []string{"node.labels.zone", "node.labels.rack"}
	for b.Loop() {
		spread.Schedule(req)
	}
}

func TestNeverDuplicates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bits := rapid.IntRange(24, 30).Draw(t, "bits")
		prefix := netip.MustParsePrefix(fmt.Sprintf("10.1.0.0/%d", bits))
		size := 1 << (32 - bits)
		var allocated []string
		a := prefix.Addr()
		for i := 0; i < size; i++ {
			if rapid.Float64Range(0, 1).Draw(t, "taken") < 0.3 {
				allocated = append(allocated, a.String())
			}
			a = a.Next()
		}
		nreq := rapid.IntRange(0, size+2).Draw(t, "requests")
		req := &sdk.AllocateRequest{
			Networks: []sdk.Network{{ID: "net", Subnet: prefix.String(), Gateway: prefix.Addr().Next().String(), Allocated: allocated}},
		}
		for i := 0; i < nreq; i++ {
			req.Addresses = append(req.Addresses, sdk.AddressRequest{ID: fmt.Sprint(i), NetworkID: "net"})
		}
		nports := rapid.IntRange(0, 50).Draw(t, "ports")
		for i := 0; i < nports; i++ {
			req.Ports = append(req.Ports, sdk.PortRequest{ID: fmt.Sprint(i), Protocol: rapid.SampledFrom([]string{"tcp", "udp"}).Draw(t, "proto")})
		}
		req.UsedPorts = []sdk.UsedPort{{Protocol: "tcp", Port: 30001}, {Protocol: "udp", Port: 30000}}
		req.PortRangeStart, req.PortRangeEnd = 30000, 30020

		resp := ipam.Allocate(req)
		seen := map[string]bool{}
		for _, s := range allocated {
			seen[s] = true
		}
		seen[prefix.Addr().Next().String()] = true
		for _, r := range resp.Addresses {
			if r.Code != sdk.AllocOK {
				if r.Code != sdk.AllocPoolExhausted {
					t.Fatalf("code %v", r.Code)
				}
				continue
			}
			p := netip.MustParsePrefix(r.Address)
			addr := p.Addr()
			broadcast := netip.MustParsePrefix(fmt.Sprintf("10.1.0.0/%d", bits)).Addr()
			for i := 0; i < size-1; i++ {
				broadcast = broadcast.Next()
			}
			if !prefix.Contains(addr) || addr == prefix.Addr() || addr == broadcast {
				t.Fatalf("address %s is not a usable address of %s", addr, prefix)
			}
			if seen[addr.String()] {
				t.Fatalf("duplicate or taken address %s", addr)
			}
			seen[addr.String()] = true
		}
		ports := map[string]bool{"tcp/30001": true, "udp/30000": true}
		for i, r := range resp.Ports {
			if r.Code != sdk.AllocOK {
				continue
			}
			k := fmt.Sprintf("%s/%d", req.Ports[i].Protocol, r.Port)
			if ports[k] || r.Port < 30000 || r.Port > 30020 {
				t.Fatalf("bad port %s", k)
			}
			ports[k] = true
		}
	})
}

// BenchmarkValidate100kOn2400 replays a spread answer for 100,000 tasks on
// 2,400 nodes, as the plugin host does after every Wasm call.
func BenchmarkValidate100kOn2400(b *testing.B) {
	req := policytest.Uniform(2400, 100_000)
	resp := spread.Schedule(req)
	for b.Loop() {
		if err := filter.Validate(req, resp); err != nil {
			b.Fatal(err)
		}
	}
}
