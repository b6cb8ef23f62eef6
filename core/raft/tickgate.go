package raft

import "time"

// maxSkippedTicks bounds how many late ticks in a row a node ignores: under
// sustained starvation its clock still runs, at worst maxSkippedTicks+1
// times slower than on an idle machine, so a dead leader is still replaced.
const maxSkippedTicks = 3

// tickGate decides whether a tick of the node's clock counts. A tick that
// arrives much later than its interval means this process (or its loop)
// could not run, and the messages that would have reset its timers may be
// waiting unread in the transport: a follower must not campaign, nor a
// leader step down (CheckQuorum), because it was itself starved. A late
// tick is not counted, at most maxSkippedTicks in a row. The gate only
// decides for a follower (or candidate): a leader counts every tick
// (Node.tick), because its ticks send the heartbeats, and a leader starved
// alone (its followers' clocks on time) that slowed its heartbeats down
// would be replaced although it works (issue 14).
type tickGate struct {
	interval time.Duration
	last     time.Time // time of the previous tick; zero before the first
	skipped  int       // late ticks ignored in a row
	observe  func(lateness time.Duration)
}

// admit takes the tick stamped at (zero: a hand-driven tick, always
// counted) and reports whether it counts.
func (g *tickGate) admit(at time.Time) bool {
	if at.IsZero() {
		return true
	}
	prev := g.last
	g.last = at
	if prev.IsZero() {
		return true
	}
	late := max(at.Sub(prev)-g.interval, 0)
	if g.observe != nil {
		g.observe(late)
	}
	if late <= g.interval/2 || g.skipped >= maxSkippedTicks {
		g.skipped = 0
		return true
	}
	g.skipped++
	return false
}
