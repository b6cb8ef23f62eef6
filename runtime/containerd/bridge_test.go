package containerd

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/runtime"
)

// TestTwoNodesOnOneHostWithCollidingHashes: two backends (two shoal nodes on one
// machine) whose namespaces hash to the same 10.88.N.0/24 still get two bridges
// with disjoint subnets, and each one's tasks answer on their own addresses.
func TestTwoNodesOnOneHostWithCollidingHashes(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	seed := func(ns string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(ns))
		return h.Sum32() % 256
	}
	// Rename b's namespace until it starts its subnet search where a's does.
	base := b.ns
	for i := 0; seed(b.ns) != seed(a.ns); i++ {
		b.ns = fmt.Sprintf("%s-%d", base, i)
	}
	b.cfg.Namespace, b.cfg.BridgeName = b.ns, DefaultBridgeName(b.ns)
	if a.cfg.BridgeName == b.cfg.BridgeName {
		t.Fatalf("one bridge name %s for %s and %s", a.cfg.BridgeName, a.ns, b.ns)
	}
	ba, bb := a.backend(), b.backend()
	ca := run(t, ba, spec("web-a", "sh", "-c", strings.ReplaceAll(httpdCmd, "$TASK", "a")))
	cb := run(t, bb, spec("web-b", "sh", "-c", strings.ReplaceAll(httpdCmd, "$TASK", "b")))
	pa, pb := ba.net.prefix, bb.net.prefix
	if pa.Overlaps(pb) {
		t.Fatalf("bridges %s and %s share %s / %s", a.cfg.BridgeName, b.cfg.BridgeName, pa, pb)
	}
	for _, tc := range []struct {
		c    runtime.Controller
		want string
		p    netip.Prefix
	}{{ca, "hello-a", pa}, {cb, "hello-b", pb}} {
		st, err := tc.c.Inspect(ctxT(t))
		if err != nil || len(st.Addresses) != 1 {
			t.Fatalf("inspect = %+v, %v", st, err)
		}
		addr := netip.MustParseAddr(st.Addresses[0])
		if !tc.p.Contains(addr) {
			t.Fatalf("address %s outside its bridge's %s", addr, tc.p)
		}
		if body := httpGet(t, "http://"+addr.String()+":8080/"); strings.TrimSpace(body) != tc.want {
			t.Fatalf("%s answered %q, want %q", addr, body, tc.want)
		}
	}
	// A restarted backend keeps its subnet.
	remove(t, cb)
	bb2 := b.backend()
	cb2 := run(t, bb2, spec("web-b2", "sh", "-c", strings.ReplaceAll(httpdCmd, "$TASK", "b2")))
	if bb2.net.prefix != pb {
		t.Fatalf("restarted backend moved from %s to %s", pb, bb2.net.prefix)
	}
	remove(t, cb2)
	remove(t, ca)
}
