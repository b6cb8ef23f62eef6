package raft

import "time"

// maxSkippedTicks bounds how many late ticks in a row a follower ignores:
// under sustained starvation it still campaigns, at worst
// maxSkippedTicks+1 times slower than on an idle machine, so a dead leader
// is still replaced.
const maxSkippedTicks = 3

// tickGate decides whether a tick of the node's clock counts toward Raft's
// election timeout. A tick that arrives much later than its interval means
// this process (or its loop) could not run: the leader's heartbeats may be
// waiting unread in the transport, so a follower must not campaign because
// it was itself starved. A late tick is not counted (at most
// maxSkippedTicks in a row); the leader counts every tick, since its tick
// is what sends the heartbeats that keep the followers quiet, and the Go
// ticker already folds a stall into one tick so CheckQuorum sees at most
// one tick of the leader's own stall.
type tickGate struct {
	interval time.Duration
	last     time.Time // time of the previous tick; zero before the first
	skipped  int       // late ticks ignored in a row
	observe  func(lateness time.Duration)
}

// admit takes the tick stamped at (zero: a hand-driven tick, always
// counted) and reports whether it counts; leader is whether this node leads.
func (g *tickGate) admit(at time.Time, leader bool) bool {
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
	if leader || late <= g.interval/2 || g.skipped >= maxSkippedTicks {
		g.skipped = 0
		return true
	}
	g.skipped++
	return false
}
