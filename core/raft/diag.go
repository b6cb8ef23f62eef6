package raft

import (
	"log/slog"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// diagWindow is how many recent ticks the election diagnostics look back on.
const diagWindow = 30

// electionDiag keeps, loop-owned, what explains an election when one
// starts: when the leader was last heard from, how late the recent ticks
// came and how many the gate ignored, and the largest Ready (entries,
// committed entries, bytes) handled recently. Times are the ticker's own
// timestamps, so the diagnostics need no clock of their own.
type electionDiag struct {
	lastTick       time.Time // stamp of the last tick, counted or not
	leaderHeardAt  time.Time // stamp of the last tick before the leader's last message
	leaderHeardTk  uint64    // n.ticks then
	lateness       [diagWindow]time.Duration
	skipped        [diagWindow]bool
	pos            int
	maxReadyBytes  uint64
	maxReadyEnts   int
	maxReadyCommit int
}

func (d *electionDiag) tick(at time.Time, late time.Duration, counted bool) {
	d.lastTick = at
	d.lateness[d.pos] = late
	d.skipped[d.pos] = !counted
	d.pos = (d.pos + 1) % diagWindow
}

func (d *electionDiag) ready(rd *etcdraft.Ready) {
	var b uint64
	for _, e := range rd.CommittedEntries {
		b += uint64(len(e.GetData()))
	}
	d.maxReadyBytes = max(d.maxReadyBytes, b)
	d.maxReadyEnts = max(d.maxReadyEnts, len(rd.Entries))
	d.maxReadyCommit = max(d.maxReadyCommit, len(rd.CommittedEntries))
}

func (d *electionDiag) heardLeader(ticks uint64) {
	d.leaderHeardAt = d.lastTick
	d.leaderHeardTk = ticks
}

// attrs describes the recent past for a log line.
func (d *electionDiag) attrs(n *Node) []any {
	var maxLate time.Duration
	skipped := 0
	for i := range diagWindow {
		maxLate = max(maxLate, d.lateness[i])
		if d.skipped[i] {
			skipped++
		}
	}
	out := []any{
		"ticks", n.ticks,
		"ticks_since_leader_heard", n.ticks - d.leaderHeardTk,
		"max_tick_lateness_recent", maxLate,
		"late_ticks_ignored_recent", skipped,
		"max_ready_commit_bytes", d.maxReadyBytes,
		"max_ready_commit_entries", d.maxReadyCommit,
		"max_ready_entries", d.maxReadyEnts,
	}
	if !d.leaderHeardAt.IsZero() && !d.lastTick.IsZero() {
		out = append(out, "since_leader_heard", d.lastTick.Sub(d.leaderHeardAt))
	}
	var seen []any
	for id, t := range n.mem.lastSeen {
		if id != n.id {
			seen = append(seen, slog.Uint64(idString(id), n.ticks-t))
		}
	}
	if len(seen) > 0 {
		out = append(out, slog.Group("ticks_since_heard", seen...))
	}
	return out
}

// logStateChange logs a Raft state change with the diagnostics, at Warn
// for an election or a leader's step-down, and resets the Ready maxima.
func (n *Node) logStateChange(from, to etcdraft.StateType, ss *etcdraft.SoftState) {
	if from == to {
		return
	}
	args := append([]any{"from", from.String(), "to", to.String(), "lead", idString(ss.Lead),
		"term", n.rn.BasicStatus().GetTerm()}, n.diag.attrs(n)...)
	n.log.Warn("raft: state change", args...)
	n.diag.maxReadyBytes, n.diag.maxReadyEnts, n.diag.maxReadyCommit = 0, 0, 0
}

func idString(id uint64) string {
	const hex = "0123456789abcdef"
	if id == 0 {
		return "0"
	}
	var b [16]byte
	i := len(b)
	for id > 0 {
		i--
		b[i] = hex[id&15]
		id >>= 4
	}
	return string(b[i:])
}

// fromLeader reports whether m comes from the leader this node follows.
func (n *Node) fromLeader(m *pb.Message) bool {
	return n.lead.id != 0 && m.GetFrom() == n.lead.id
}

// slowReady is the handleReady time from which a Ready is logged as slow:
// the loop sends no heartbeat meanwhile.
const slowReady = 300 * time.Millisecond

// noteSlowReady logs a Ready that took over slowReady, with its phases:
// send (the messages that need no fsync), append (persist), and the rest
// (late sends, apply, snapshot).
func (n *Node) noteSlowReady(rd *etcdraft.Ready, t0, t1, t2 time.Time) {
	end := n.now()
	if end.Sub(t0) < slowReady {
		return
	}
	var b uint64
	for _, e := range rd.CommittedEntries {
		b += uint64(len(e.GetData()))
	}
	n.log.Warn("raft: slow ready", "state", n.lead.state.String(), "took", end.Sub(t0), "send", t1.Sub(t0), "append", t2.Sub(t1),
		"apply_and_rest", end.Sub(t2), "entries", len(rd.Entries), "committed", len(rd.CommittedEntries),
		"committed_bytes", b, "messages", len(rd.Messages), "snapshot_index", n.snapIndex)
}
