package containerd

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"
)

func TestIPAMProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		file := filepath.Join(tempDir(t), "ipam.json")
		n, err := newNetwork("br", "10.9.8.0/28", file, "ns")
		if err != nil {
			t.Fatal(err)
		}
		const usable = 16 - 3
		held := map[string]netip.Addr{} // task -> addr, the model
		tasks := rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"})
		for step := range rapid.IntRange(1, 60).Draw(t, "steps") {
			task := tasks.Draw(t, fmt.Sprint("task", step))
			if rapid.Bool().Draw(t, fmt.Sprint("alloc", step)) {
				a, err := n.allocate(task)
				if prev, ok := held[task]; ok {
					if err != nil || a != prev {
						t.Fatalf("re-allocate %s = %v, %v; want %v", task, a, err, prev)
					}
					continue
				}
				if len(held) == usable {
					if !errors.Is(err, errNoAddress) {
						t.Fatalf("full range: err = %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !n.prefix.Contains(a) || a == n.gateway || a == n.prefix.Addr() || a == n.addrAt(15) {
					t.Fatalf("address %v not usable in %v", a, n.prefix)
				}
				for other, b := range held {
					if b == a {
						t.Fatalf("%v given to %s and %s", a, other, task)
					}
				}
				held[task] = a
			} else {
				if err := n.release(task); err != nil {
					t.Fatal(err)
				}
				delete(held, task)
			}
			// A restarted agent reads the same allocations back.
			n2, _ := newNetwork("br", "10.9.8.0/28", file, "ns")
			n2.mu.Lock()
			if err := n2.load(); err != nil {
				t.Fatal(err)
			}
			if len(n2.state.Alloc) != len(held) {
				t.Fatalf("persisted %v, model %v", n2.state.Alloc, held)
			}
			for task, a := range held {
				if n2.state.Alloc[a.String()] != task {
					t.Fatalf("persisted %v, model %v", n2.state.Alloc, held)
				}
			}
			n2.mu.Unlock()
		}
	})
}

func TestIPAMRoundRobinDoesNotReuseAtOnce(t *testing.T) {
	n, err := newNetwork("br", "10.9.8.0/24", filepath.Join(t.TempDir(), "ipam.json"), "ns")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := n.allocate("a")
	b, _ := n.allocate("b")
	if err := n.release("a"); err != nil {
		t.Fatal(err)
	}
	c, _ := n.allocate("c")
	if a.String() != "10.9.8.2" || b.String() != "10.9.8.3" || c.String() != "10.9.8.4" {
		t.Fatalf("a=%v b=%v c=%v", a, b, c)
	}
	// A restarted agent continues where the previous one stopped.
	n2, _ := newNetwork("br", "10.9.8.0/24", n.file, "ns")
	d, _ := n2.allocate("d")
	if d.String() != "10.9.8.5" {
		t.Fatalf("d=%v after restart", d)
	}
}

func tempDir(t *rapid.T) string {
	d, err := osMkdirTemp()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { osRemoveAll(d) })
	return d
}

func TestNetworkConfig(t *testing.T) {
	tests := []struct {
		subnet string
		ok     bool
	}{
		{"10.88.3.0/24", true},
		{"10.88.3.7/24", true}, // masked
		{"10.88.0.0/16", true},
		{"10.88.3.0/31", false},
		{"fd00::/64", false},
		{"garbage", false},
	}
	for _, tc := range tests {
		n, err := newNetwork("br", tc.subnet, "/nonexistent", "x")
		if (err == nil) != tc.ok {
			t.Fatalf("%s: err = %v", tc.subnet, err)
		}
		if err == nil && n.gateway != n.prefix.Addr().Next() {
			t.Fatalf("%s: gateway %v", tc.subnet, n.gateway)
		}
	}
	a, va := (&network{salt: "ns1"}).names("task")
	b, vb := (&network{salt: "ns2"}).names("task")
	if a == b || va == vb || len(va) > 15 {
		t.Fatalf("names %s %s %s %s", a, b, va, vb)
	}
}

var (
	osMkdirTemp = func() (string, error) { return os.MkdirTemp("", "shoal-ipam-") }
	osRemoveAll = os.RemoveAll
)

// FuzzIPAMState feeds arbitrary allocation files to a restarting allocator: it must
// either reject the file or keep handing out unique in-range addresses.
func FuzzIPAMState(f *testing.F) {
	f.Add([]byte(`{"subnet":"10.9.8.0/28","next":5,"alloc":{"10.9.8.2":"a"}}`))
	f.Add([]byte(`{"subnet":"10.9.8.0/28","next":0,"alloc":{}}`))
	f.Add([]byte(`{"subnet":"10.9.8.0/28","next":4294967295,"alloc":{"x":"y"}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "ipam.json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		n, _ := newNetwork("br", "10.9.8.0/28", file, "ns")
		seen := map[netip.Addr]bool{}
		for i := range 14 {
			a, err := n.allocate(fmt.Sprint("t", i))
			if err != nil {
				return // corrupt file or range full: an error, not a panic or a duplicate
			}
			if seen[a] || !n.prefix.Contains(a) || a == n.gateway || a == n.prefix.Addr() || a == n.addrAt(15) {
				t.Fatalf("bad address %v (seen %v)", a, seen)
			}
			seen[a] = true
		}
	})
}

func TestPickSubnetAvoidsTakenRanges(t *testing.T) {
	mp := netip.MustParsePrefix
	tests := []struct {
		seed  uint32
		taken []netip.Prefix
		want  string
	}{
		{7, nil, "10.88.7.0/24"},
		{7 + 256, nil, "10.88.7.0/24"},
		{7, []netip.Prefix{mp("10.88.7.0/24")}, "10.88.8.0/24"},
		{255, []netip.Prefix{mp("10.88.255.0/24")}, "10.88.0.0/24"},
		{7, []netip.Prefix{mp("10.88.0.0/20")}, "10.88.16.0/24"}, // a wider range covers 0..15
		{7, []netip.Prefix{mp("10.0.0.0/8")}, ""},                // nothing left
		{7, []netip.Prefix{mp("192.0.2.0/24"), mp("127.0.0.0/8")}, "10.88.7.0/24"},
	}
	for _, tc := range tests {
		p, err := pickSubnet(tc.seed, tc.taken)
		if tc.want == "" {
			if !errors.Is(err, errNoAddress) {
				t.Fatalf("seed %d taken %v: %v, %v; want errNoAddress", tc.seed, tc.taken, p, err)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Fatalf("seed %d taken %v: %v, %v; want %s", tc.seed, tc.taken, p, err, tc.want)
		}
	}
}

func TestChosenSubnetIsPersisted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ipam.json")
	n, err := newNetwork("br", "", file, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.allocate("a"); err == nil {
		t.Fatal("allocated before a subnet was chosen")
	}
	// What ensureBridge does once it has chosen.
	n.mu.Lock()
	n.setPrefix(netip.MustParsePrefix("10.88.42.0/24"))
	n.state.Subnet = n.prefix.String()
	n.mu.Unlock()
	a, err := n.allocate("a")
	if err != nil || a.String() != "10.88.42.2" {
		t.Fatalf("allocate = %v, %v", a, err)
	}
	n2, _ := newNetwork("br", "", file, "ns")
	b, err := n2.allocate("b")
	if err != nil || b.String() != "10.88.42.3" || n2.prefix.String() != "10.88.42.0/24" {
		t.Fatalf("after restart: %v, %v in %v", b, err, n2.prefix)
	}
	// A configured subnet wins over the persisted choice.
	n3, _ := newNetwork("br", "10.9.0.0/24", file, "ns")
	c, err := n3.allocate("c")
	if err != nil || c.String() != "10.9.0.2" {
		t.Fatalf("configured: %v, %v", c, err)
	}
}
