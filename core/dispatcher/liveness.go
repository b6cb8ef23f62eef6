package dispatcher

import "time"

// Gossip as a second failure signal. Heartbeats alone mark a node DOWN
// after HeartbeatPeriod × GraceMultiplier (15 s by default) when its
// machine loses power or hangs, since nothing closes its session stream.
// The nodes' gossip members (core/gossip, memberlist) probe each other all
// the time at a constant cost per node; when memberlist declares a node
// dead (its direct and indirect probes failed and the suspicion was not
// refuted in time) the manager's own member reports it here, and the node
// is DOWN as soon as its heartbeat is also overdue: no heartbeat for
// gossipConfirm (1.25 periods, at least a period + 1 s). Neither signal alone downs a node early:
// a node alive in gossip keeps the full grace for late heartbeats, and a
// node that heartbeats on time stays READY whatever gossip says. A node
// that heartbeats again (a new session) is READY as before. See
// RATIONALE.md, "Failure detection".

// expiredByGossip is the DOWN message of a node downed by both signals.
const expiredByGossip = "declared dead by the gossip layer and its heartbeat is overdue"

// GossipVerdict records the gossip layer's verdict on a node: dead when
// memberlist declared it dead, alive when it joined or came back. Verdicts
// are kept across leadership terms of this dispatcher. It does not block.
func (d *Dispatcher) GossipVerdict(nodeID string, dead bool) {
	now := d.cfg.Clock.Now()
	d.mu.Lock()
	changed := d.gossipDead[nodeID] != dead
	var overdueIn time.Duration
	if dead {
		d.gossipDead[nodeID] = true
		if e := d.nodes[nodeID]; e != nil {
			overdueIn = e.lastBeat.Add(d.gossipConfirmLocked()).Sub(now)
		}
	} else {
		delete(d.gossipDead, nodeID)
	}
	d.mu.Unlock()
	if changed {
		d.log.Info("gossip verdict", "node", nodeID, "dead", dead)
	}
	if !dead {
		return
	}
	// Check its heartbeat now, and again when it becomes overdue, rather
	// than at the next scans (a fifth of a period apart).
	signal(d.scanNow)
	if overdueIn > 0 {
		d.cfg.Clock.AfterFunc(overdueIn+time.Millisecond, func() { signal(d.scanNow) })
	}
}

// gossipConfirmLocked is how long after its last heartbeat a node declared
// dead by gossip is DOWN: one period (when the next heartbeat was due)
// plus a quarter of it, at least minGossipSlack, for its latency (6.25 s
// with the default 5 s period). d.mu is held.
func (d *Dispatcher) gossipConfirmLocked() time.Duration {
	return d.period + max(d.period/4, minGossipSlack)
}

// minGossipSlack keeps short test periods (1 s) from downing a node whose
// heartbeat is a moment late while gossip briefly holds it dead (a
// restarted daemon's member refuting its old incarnation's death).
const minGossipSlack = time.Second

// expiredLocked says why node e is to be marked DOWN at now: "heartbeat
// failure" past its deadline, expiredByGossip when gossip declared it dead
// and its heartbeat is overdue, "" when it lives. d.mu is held.
func (d *Dispatcher) expiredLocked(nodeID string, e *nodeEntry, now time.Time) string {
	switch {
	case now.After(e.deadline):
		return "heartbeat failure"
	case d.gossipDead[nodeID] && now.Sub(e.lastBeat) > d.gossipConfirmLocked():
		return expiredByGossip
	}
	return ""
}

// GossipDead reports whether the gossip layer holds nodeID dead, as far as
// this dispatcher knows (tests, metrics).
func (d *Dispatcher) GossipDead(nodeID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gossipDead[nodeID]
}
