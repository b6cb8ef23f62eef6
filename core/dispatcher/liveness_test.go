package dispatcher

import (
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
)

// step advances the manual clock by total in small steps, letting the
// dispatcher's scans run between them.
func (h *harness) step(total time.Duration) {
	const by = 250 * time.Millisecond
	for t := time.Duration(0); t < total; t += by {
		h.clock.Advance(min(by, total-t))
		time.Sleep(5 * time.Millisecond)
	}
}

// hasSession reports whether node still has its entry (it was not expired).
func (h *harness) hasSession(node string) bool {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	return h.d.nodes[node] != nil
}

func (h *harness) heartbeat(c shoalv1connect.DispatcherServiceClient, sess string) {
	h.t.Helper()
	if _, err := c.Heartbeat(h.ctx, connect.NewRequest(&shoalv1.HeartbeatRequest{SessionId: sess})); err != nil {
		h.t.Fatalf("heartbeat: %v", err)
	}
}

// A node declared dead by gossip whose heartbeat is then overdue (1.25
// periods since the last) is DOWN, with the reason, long before the
// heartbeats' grace (3 periods) would down it; until the heartbeat is
// overdue it stays.
func TestGossipDeadAndOverdueHeartbeatMarksDown(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second})
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version) // the stream stays open: a hung machine
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	h.step(2 * time.Second)
	h.heartbeat(c, first.GetSessionId())
	h.d.GossipVerdict("n1", true)
	h.step(6 * time.Second) // 6 s since the heartbeat: not yet overdue
	if !h.hasSession("n1") {
		t.Fatal("n1 expired 6 s after its last heartbeat; want it kept until 6.25 s (1.25 periods)")
	}
	h.step(time.Second)
	if h.hasSession("n1") {
		t.Fatal("n1 still has its session 7 s after its last heartbeat although gossip declared it dead")
	}
	h.eventually("node DOWN", func() bool { return h.nodeState("n1") == down })
	if msg := h.node("n1").GetStatus().GetMessage(); msg != expiredByGossip {
		t.Fatalf("DOWN message %q, want %q", msg, expiredByGossip)
	}
	// It comes back READY when it opens a session again.
	h.openSession(c, "n1", Version)
	h.eventually("node READY again", func() bool { return h.nodeState("n1") == ready })
}

// Gossip's verdict alone never downs a node that heartbeats on time: one
// member's wrong opinion (or a broken gossip port) costs nothing.
func TestGossipDeadAloneDoesNotDownAHeartbeatingNode(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second})
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	h.d.GossipVerdict("n1", true)
	for range 6 { // 30 s of heartbeats on time
		h.step(5 * time.Second)
		h.heartbeat(c, first.GetSessionId())
	}
	if !h.hasSession("n1") || h.nodeState("n1") != ready {
		t.Fatalf("n1 (heartbeating on time, dead in gossip) lost its session or is %v; want READY", h.nodeState("n1"))
	}
}

// A node whose heartbeats are late (by more than a period, inside the
// grace) but that gossip holds alive stays READY: the fast path needs
// both signals. A dead verdict withdrawn (the node refuted it) counts as
// alive.
func TestLateHeartbeatOfANodeAliveInGossipKeepsItReady(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second})
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	h.d.GossipVerdict("n1", true)
	h.d.GossipVerdict("n1", false)
	for range 3 { // heartbeats 12 s apart: 2.4 periods, inside the 15 s grace
		h.step(12 * time.Second)
		if !h.hasSession("n1") {
			t.Fatal("n1 expired with late heartbeats although gossip holds it alive")
		}
		h.heartbeat(c, first.GetSessionId())
	}
	if s := h.nodeState("n1"); s != ready {
		t.Fatalf("n1 is %v, want READY", s)
	}
}

// A verdict made before this manager led (kept by the dispatcher) applies
// to a node awaited after the leader change: it is DOWN 1.25 periods after
// Run started instead of after the reconnect grace.
func TestGossipDeadNodeAwaitedAfterLeaderChangeIsDownEarly(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: 5 * time.Second})
	c := h.client("n1")
	h.openSession(c, "n1", Version)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	h.d.GossipVerdict("n1", true)
	h.d.mu.Lock()
	e := h.d.nodes["n1"]
	e.sess, e.lastBeat, e.deadline = nil, h.clock.Now(), h.clock.Now().Add(h.d.cfg.ReconnectGrace)
	h.d.mu.Unlock()
	h.step(8 * time.Second) // overdue at 6.25 s, seen by a scan within 1 s
	if h.hasSession("n1") {
		t.Fatal("awaited n1, dead in gossip, still awaited 8 s after; want DOWN after 6.25 s (not after the 15 s reconnect grace)")
	}
}

// With a short period (tests: 1 s) the heartbeat counts as overdue only a
// full second after it was due, not a quarter period: a restarted node
// whose member is briefly held dead is not downed for a heartbeat that is
// a moment late.
func TestGossipConfirmationKeepsAOneSecondSlack(t *testing.T) {
	h := newHarness(t, Config{HeartbeatPeriod: time.Second})
	c := h.client("n1")
	first, _ := h.openSession(c, "n1", Version)
	h.eventually("node READY", func() bool { return h.nodeState("n1") == ready })
	h.heartbeat(c, first.GetSessionId())
	h.d.GossipVerdict("n1", true)
	h.step(1750 * time.Millisecond) // 1.75 periods: past 1.25, inside 1 + 1 s
	if !h.hasSession("n1") {
		t.Fatal("n1 downed 1.75 s after its heartbeat with a 1 s period; want the 1 s slack (2 s)")
	}
	h.step(time.Second)
	if h.hasSession("n1") {
		t.Fatal("n1 kept 2.75 s after its heartbeat although dead in gossip; want DOWN after 2 s")
	}
}
