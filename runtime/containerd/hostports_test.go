package containerd

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

func TestHostPortRules(t *testing.T) {
	addr := netip.MustParseAddr("10.88.7.5")
	tests := []struct {
		name  string
		ports []runtime.HostPort
		want  []string // PREROUTING specs (OUTPUT holds the same)
	}{
		{"none", nil, nil},
		{"tcp and udp", []runtime.HostPort{{Protocol: "tcp", Published: 8080, Target: 80}, {Protocol: "udp", Published: 53, Target: 5353}}, []string{
			"-p tcp --dport 8080 -m addrtype --dst-type LOCAL -m comment --comment shoal:shl1 -j DNAT --to-destination 10.88.7.5:80",
			"-p udp --dport 53 -m addrtype --dst-type LOCAL -m comment --comment shoal:shl1 -j DNAT --to-destination 10.88.7.5:5353",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pre, out []string
			for _, r := range hostPortRules("shl1", addr, tt.ports) {
				spec := joinSpec(r.spec)
				switch r.chain {
				case "PREROUTING":
					pre = append(pre, spec)
				case "OUTPUT":
					out = append(out, spec)
				}
				if r.table != "nat" {
					t.Errorf("rule in table %s, want nat", r.table)
				}
			}
			if !slices.Equal(pre, tt.want) || !slices.Equal(out, tt.want) {
				t.Errorf("PREROUTING %q OUTPUT %q, want both %q", pre, out, tt.want)
			}
		})
	}
}

func joinSpec(spec []string) string { return strings.Join(spec, " ") }

func TestTeardownUnpublishesOnlyItsTasksHostPorts(t *testing.T) {
	n, err := newNetwork("shl1", "10.88.7.0/24", filepath.Join(t.TempDir(), "ipam.json"), "ns")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeIptables("ACCEPT")
	n.ipt = f.run
	ctx := context.Background()
	addrs := map[string]netip.Addr{}
	for i, id := range []string{"t1", "t2"} {
		a, err := n.allocate(id)
		if err != nil {
			t.Fatal(err)
		}
		addrs[id] = a
		if err := n.publishHostPorts(ctx, a, []runtime.HostPort{{Protocol: "tcp", Published: uint16(8080 + i), Target: 80}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.publishHostPorts(ctx, addrs["t1"], []runtime.HostPort{{Protocol: "tcp", Published: 8080, Target: 80}}); err != nil || f.appends != 4 {
		t.Fatalf("publishing again: err %v, %d appends, want no new rule", err, f.appends)
	}
	if err := n.teardown(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	want := hostPortRules("shl1", addrs["t2"], []runtime.HostPort{{Protocol: "tcp", Published: 8081, Target: 80}})
	for _, chain := range []string{"PREROUTING", "OUTPUT"} {
		if got := f.rules["nat/"+chain]; len(got) != 1 || got[0] != joinSpec(want[0].spec) {
			t.Errorf("%s after t1's teardown = %q, want only t2's rule", chain, got)
		}
	}
}
