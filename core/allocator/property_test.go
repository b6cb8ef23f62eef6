package allocator

import (
	"fmt"
	"net/netip"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// propNets are the networks of the property test: small, so that churn
// exhausts them. Usable: all but network, broadcast and gateway.
var propNets = map[string]struct {
	subnet, gateway string
	usable          int
}{
	"n1": {"10.1.0.0/28", "10.1.0.1", 13},
	"n2": {"10.2.0.0/29", "10.2.0.6", 5},
}

// TestAddressesNeverHandedOutTwiceNorLost drives the allocator through
// random churn (tasks added, stopped, removed, services moved between
// networks) and leader failovers (a fresh allocator over a store restored
// from a snapshot), checking after every step that no address is held
// twice, every held address is a host address of its subnet other than
// the gateway, and a task is refused an address only when its network is
// full.
func TestAddressesNeverHandedOutTwiceNorLost(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t)
		for id, n := range propNets {
			h.addNetwork(id, n.subnet, n.gateway)
		}
		h.addService("a", 0, []string{"n1"})
		h.addService("b", 0, []string{"n2"})
		rt.Repeat(map[string]func(*rapid.T){
			"add": func(rt *rapid.T) {
				h.addTasks(rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "service"), rapid.IntRange(1, 4).Draw(rt, "n"))
			},
			"stop": func(rt *rapid.T) {
				live := liveTasks(h.st.Store)
				if len(live) == 0 {
					rt.Skip("no live task")
				}
				id := rapid.SampledFrom(live).Draw(rt, "task")
				state := rapid.SampledFrom([]shoalv1.TaskState{stateComplete, shoalv1.TaskState_TASK_STATE_FAILED,
					shoalv1.TaskState_TASK_STATE_SHUTDOWN}).Draw(rt, "state")
				h.st.MustUpdate(func(tx store.Tx) error {
					x := proto.CloneOf(tx.GetTask(id))
					x.Status.State = state
					return tx.Update(x)
				})
			},
			"remove": func(rt *rapid.T) {
				all := allTaskIDs(h.st.Store)
				if len(all) == 0 {
					rt.Skip("no task")
				}
				id := rapid.SampledFrom(all).Draw(rt, "task")
				h.st.MustUpdate(func(tx store.Tx) error { return tx.Delete(store.KindTask, id) })
			},
			"move": func(rt *rapid.T) {
				to := rapid.SampledFrom([][]string{{"n1"}, {"n2"}, {"n1", "n2"}, {"n2", "n1"}}).Draw(rt, "networks")
				h.st.MustUpdate(func(tx store.Tx) error {
					s := proto.CloneOf(tx.GetService("b"))
					s.Spec.Networks = to
					return tx.Update(s)
				})
			},
			"pass": func(rt *rapid.T) {
				// Passes until nothing changes: a VIP dropped frees its
				// address once written, and a task refused on one of two
				// networks for want of room that freed after is retried
				// (Run: on the service's change or the retry interval).
				for i := 0; i < 5; i++ {
					if st := h.pass(); st.Allocated == 0 && st.Services == 0 {
						break
					}
				}
				checkNoneLost(rt, h.st.Store)
			},
			"failover": func(rt *rapid.T) {
				snap, idx, err := h.st.SnapshotWithIndex()
				if err != nil {
					rt.Fatal(err)
				}
				st := store.NewLocal(store.WithClock(h.clk.Now))
				if err := st.Restore(idx, snap); err != nil {
					rt.Fatal(err)
				}
				h.st.Store, h.a = st, New(st, WithClock(h.clk))
			},
			"": func(rt *rapid.T) { checkHeldOnce(rt, h.st.Store) },
		})
	})
}

func liveTasks(st *store.Store) []string {
	var out []string
	_ = st.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindTask, store.All(), func(o store.Object) bool {
			if o.(*shoalv1.Task).GetStatus().GetState() < stateComplete {
				out = append(out, o.GetId())
			}
			return true
		})
	})
	return out
}

func allTaskIDs(st *store.Store) []string {
	var out []string
	_ = st.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindTask, store.All(), func(o store.Object) bool {
			out = append(out, o.GetId())
			return true
		})
	})
	return out
}

// held maps network -> address -> holders: live tasks and service VIPs.
func held(st *store.Store) map[string]map[string][]string {
	out := map[string]map[string][]string{"n1": {}, "n2": {}}
	add := func(owner string, ats []*shoalv1.Attachment) {
		for _, at := range ats {
			for _, a := range at.GetAddresses() {
				out[at.GetNetworkId()][a] = append(out[at.GetNetworkId()][a], owner)
			}
		}
	}
	_ = st.View(func(tx store.ReadTx) error {
		_ = tx.Range(store.KindService, store.All(), func(o store.Object) bool {
			add("vip "+o.GetId(), o.(*shoalv1.Service).GetEndpoint().GetVirtualIps())
			return true
		})
		return tx.Range(store.KindTask, store.All(), func(o store.Object) bool {
			if t := o.(*shoalv1.Task); t.GetStatus().GetState() < stateComplete {
				add("task "+t.GetId(), t.GetNetworks())
			}
			return true
		})
	})
	return out
}

func checkHeldOnce(rt *rapid.T, st *store.Store) {
	for nid, addrs := range held(st) {
		n := propNets[nid]
		subnet := netip.MustParsePrefix(n.subnet)
		for a, owners := range addrs {
			p, err := netip.ParsePrefix(a)
			if err != nil || p.Bits() != subnet.Bits() || !subnet.Contains(p.Addr()) || p.Addr() == subnet.Addr() ||
				p.Addr().String() == n.gateway || p.Addr() == lastOf(subnet) {
				rt.Fatalf("network %s: %s (held by %v) is not a free host address of %s", nid, a, owners, n.subnet)
			}
			if len(owners) > 1 {
				rt.Fatalf("network %s: %s handed out twice: %v", nid, a, owners)
			}
		}
	}
}

// checkNoneLost: once passes settle, a task still NEW for want of an
// address is on a network whose every usable address is held.
func checkNoneLost(rt *rapid.T, st *store.Store) {
	h := held(st)
	_ = st.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindTask, store.ByTaskState(stateNew), func(o store.Object) bool {
			t := o.(*shoalv1.Task)
			for nid, n := range propNets {
				if t.GetStatus().GetErr() == fmt.Sprintf("network %s has no free addresses", nid) && len(h[nid]) != n.usable {
					rt.Fatalf("task %s refused on %s with %d of %d addresses held", t.GetId(), nid, len(h[nid]), n.usable)
				}
			}
			if t.GetStatus().GetErr() == "" {
				rt.Fatalf("task %s left NEW without a reason after a pass", t.GetId())
			}
			return true
		})
	})
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | (uint32(1)<<(32-p.Bits()) - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
