package gossip

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// verdicts records the Liveness calls one member made.
type verdicts struct {
	mu   sync.Mutex
	dead map[string]bool // current verdict per node
	ever map[string]bool // nodes ever reported dead
}

func newVerdicts() *verdicts {
	return &verdicts{dead: map[string]bool{}, ever: map[string]bool{}}
}

func (v *verdicts) record(node string, dead bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dead[node] = dead
	if dead {
		v.ever[node] = true
	}
}

func (v *verdicts) isDead(node string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dead[node]
}

func (v *verdicts) everDead(node string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ever[node]
}

// cut is a set of addresses a member's transport neither sends to nor
// hears from: a broken link between two members, the rest intact.
type cut struct {
	mu      sync.Mutex
	blocked map[string]bool
	dropped atomic.Int64 // packets and dials refused
}

func (c *cut) block(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blocked == nil {
		c.blocked = map[string]bool{}
	}
	c.blocked[addr] = true
}

func (c *cut) isBlocked(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocked[addr]
}

// cutTransport is memberlist's network transport with the links in cut
// broken: UDP packets dropped both ways, TCP dials refused (both ends of a
// cut link block each other, so no stream crosses it either way).
type cutTransport struct {
	memberlist.Transport
	cut     *cut
	packets chan *memberlist.Packet
}

func newCutTransport(inner memberlist.Transport, c *cut) *cutTransport {
	t := &cutTransport{Transport: inner, cut: c, packets: make(chan *memberlist.Packet)}
	go func() {
		for p := range inner.PacketCh() {
			if !c.isBlocked(p.From.String()) {
				t.packets <- p
			}
		}
	}()
	return t
}

func (t *cutTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.cut.isBlocked(addr) {
		t.cut.dropped.Add(1)
		return time.Now(), nil // lost on the wire
	}
	return t.Transport.WriteTo(b, addr)
}

func (t *cutTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.cut.isBlocked(addr) {
		t.cut.dropped.Add(1)
		return nil, fmt.Errorf("link to %s is cut", addr)
	}
	return t.Transport.DialTimeout(addr, timeout)
}

func (t *cutTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// livenessCluster starts n members m0..m(n-1) on loopback, each with its
// verdict recorder and a cuttable transport, all seeing each other.
func livenessCluster(t *testing.T, n int, timing Timing) ([]*Member, []*verdicts, []*cut) {
	t.Helper()
	ms := make([]*Member, n)
	vs := make([]*verdicts, n)
	cuts := make([]*cut, n)
	for i := range ms {
		vs[i], cuts[i] = newVerdicts(), &cut{}
		c := cuts[i]
		m, err := New(Config{
			NodeID: fmt.Sprintf("m%d", i), BindAddr: "127.0.0.1:0", Keys: [][]byte{key1}, Timing: timing,
			Logger: slog.New(slog.DiscardHandler), Liveness: vs[i].record,
			wrapTransport: func(tr memberlist.Transport) memberlist.Transport { return newCutTransport(tr, c) },
		})
		if err != nil {
			t.Fatalf("New(m%d): %v", i, err)
		}
		t.Cleanup(func() { _ = m.shutdown(false) })
		ms[i] = m
		if i > 0 {
			if err := m.Join([]string{ms[0].Addr()}); err != nil {
				t.Fatalf("join m%d: %v", i, err)
			}
		}
	}
	eventually(t, "every member sees all", func() error { return allSee(ms, n) })
	return ms, vs, cuts
}

// A member that stops answering (shut down without leaving: a machine that
// lost power) is declared dead, and every other member reports the
// verdict to Liveness; a member that leaves gracefully is not reported
// dead.
func TestLivenessReportsADeadMemberNotALeftOne(t *testing.T) {
	ms, vs, _ := livenessCluster(t, 4, fastFailure)
	if err := ms[3].shutdown(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "m0..m2 report m3 dead", func() error {
		for i := range 3 {
			if !vs[i].isDead("m3") {
				return fmt.Errorf("m%d has no dead verdict on m3", i)
			}
		}
		return nil
	})
	if err := ms[2].Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "m0 and m1 see m2 leave", func() error { return allSee(ms[:2], 2) })
	for i := range 2 {
		if vs[i].everDead("m2") {
			t.Errorf("m%d reported m2 dead; it left gracefully", i)
		}
	}
}

// One member that cannot reach another (a partition between the two only)
// does not make it dead: its indirect probes through the other members
// succeed, so no suspicion is raised, or the suspect refutes it.
func TestLivenessOneMembersBrokenLinkDoesNotKillTheOther(t *testing.T) {
	// The default timing (what ships): a probe every 500 ms, suspicion
	// 3 × 500 ms once confirmed; 10 s is 20 probe rounds of each member.
	ms, vs, cuts := livenessCluster(t, 4, Timing{})
	cuts[0].block(ms[1].Addr())
	cuts[1].block(ms[0].Addr())
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i := range ms {
			for _, node := range []string{"m0", "m1"} {
				if vs[i].everDead(node) {
					t.Fatalf("m%d reported %s dead although only the m0-m1 link is cut", i, node)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cuts[0].dropped.Load() == 0 || cuts[1].dropped.Load() == 0 {
		t.Fatalf("m0 and m1 never tried the cut link (dropped %d, %d): the test did not test it", cuts[0].dropped.Load(), cuts[1].dropped.Load())
	}
	// The detector still works through the cut: m1 dying is seen by m0
	// through the others' verdicts.
	if err := ms[1].shutdown(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "m0 reports m1 dead", func() error {
		if !vs[0].isDead("m1") {
			return fmt.Errorf("no dead verdict on m1 at m0")
		}
		return nil
	})
}
