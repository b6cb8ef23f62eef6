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
