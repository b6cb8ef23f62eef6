// Package raft is shoal's Raft glue on go.etcd.io/raft/v3: it replicates
// opaque payloads among the managers and applies them, in log order, to a
// StateMachine (core/store). It knows nothing of the store's contents.
//
// It owns: the Node and its single goroutine (which alone touches the
// RawNode, the bbolt storage writes and the StateMachine), the entry
// envelope (proposer Raft ID + request ID in front of the payload, so a
// proposer's wait ends when its own entry is applied), the snapshot envelope
// (membership table + state machine data), the membership table with its
// learners (a new member joins as a non-voting learner and the leader
// promotes it once caught up: learner.go), and the
// Ready loop order that crash safety depends on:
//
//  1. hand the Transport (which never blocks) the messages that do not vote
//     on this Ready's state: everything but MsgAppResp, MsgVoteResp and
//     MsgPreVoteResp (the split etcd raft makes with asynchronous storage
//     writes), so the leader's MsgApps leave before its own fsync;
//  2. persist Snapshot (bbolt) + Entries + HardState (the log file, one
//     write and one fdatasync; none when only the commit index moved);
//  3. only then send the votes: a follower acknowledges only what is on
//     its disk, and the leader's own acknowledgement is stepped by Advance;
//  4. restore the snapshot / apply committed entries, then Advance;
//  5. every SnapshotInterval applied entries, or once the entries applied
//     since the last snapshot hold SnapshotBytes (or that snapshot's size,
//     if larger), snapshot and compact the log, keeping TrailingEntries
//     entries (at most TrailingBytes of them) for slow followers. A
//     StateMachine that is a SnapshotCapturer is captured on the loop and
//     serialised and written on another goroutine (the result comes back on
//     snapDone; a snapshot the leader's overtook meanwhile is dropped), so
//     a large store does not stall ticks; the snapshot's data stays in the
//     bbolt file, not on the heap (storage.Storage.Snapshot reads it back).
//
// Group commit: after one proposal or received message the loop takes the
// ones already queued (up to 256) before it settles, so proposals that
// arrived during an fsync share the next Ready, append and fsync, and a
// follower persists the MsgApps queued behind one another at once.
//
// Between two Readys of one drain the loop takes a tick that is due (and
// the messages received meanwhile), so a long apply backlog, cut into
// Readys of at most MaxCommittedSizePerReady bytes of committed entries,
// does not stop a leader's heartbeats (drainReady, takeDue).
//
// The Node's loop-owned state lives in small types, one file per concern,
// as etcd raft keeps its tracker and readOnly apart from raft: lifecycle.go
// (Bootstrap, Join, Restart, Stop), loop.go (the single goroutine and the
// Ready order), apply.go (proposals), snapshot.go, reads.go, membership.go
// and learner.go, leadership.go (soft state, announcing, publishing) and
// transfer.go (leadership transfer: raft gives a transfer up silently after
// an election timeout; the tracker turns that into ErrTransferAborted).
// quiesce.go is the one test hook: rafttest steps nodes with it.
//
// The state machine is in memory: after a crash it is rebuilt from the last
// snapshot plus the committed log, so nothing acknowledged is lost (Propose
// returns only after the entry was fsynced by a quorum and applied) and
// nothing is half-applied (each entry is one checksummed log record; a torn
// last record is cut off on restart, and it was never acknowledged).
//
// ProposeDecoded carries the proposer's in-memory value beside the payload;
// when the entry comes back to the same member for the same waiting
// proposal with the same bytes (compared), a state machine implementing
// DecodedApplier applies it from that value instead of decoding the bytes
// it just encoded. Followers and replays always decode.
//
// It must not touch the network (core/raft/transport does), certificates, or
// the store's data model.
//
// # Timing defaults
//
// Tick 100 ms, HeartbeatTick 1, ElectionTick 10: a leader heartbeats every
// 100 ms and a follower campaigns after a randomized 10–19 ticks (1.0–1.9 s)
// without hearing from it; these are etcd's defaults. PreVote keeps a
// partitioned member from bumping terms (no election storms when it comes
// back) and CheckQuorum makes a leader cut off from the majority step down
// after one election timeout. When a leader dies, the first follower times
// out within 1.9 s, pre-vote and vote take one round trip each (ms on a
// LAN), and the new leader commits its no-op in another round trip, so
// writes work again well within 3 s, even on a loaded 2-core machine where a
// tick can slip a few tens of ms. SwarmKit's 1 s tick (10 s elections) is
// too slow for that target; a shorter election timeout than ~1 s risks
// spurious elections when fsync or GC stalls the leader. A tick that comes
// over half an interval late (the process was starved) is not counted, at
// most 3 in a row (tickgate.go), so starvation slows Raft's clocks instead
// of triggering elections. A follower ignores its late ticks; a leader
// counts them (they send its heartbeats), after stepping the messages it
// has already received: a leader starved alone while its followers run on
// time must still heartbeat within their election timeout (issue 14).
//
// A leader's loop held up in one Ready (applying one large committed
// entry, a slow fsync: 0.3-1.4 s at 2,400 nodes x 100k tasks) sends no
// heartbeats from its ticks; beside a real ticker a small goroutine (the
// busy beat, busybeat.go) sends them for it, each tick interval, for at
// most two election timeouts of one Ready while it persists and ten while
// it applies: a wedged leader is still replaced. Every state change is logged (Warn) with why: ticks since the
// leader was heard, recent tick lateness, the largest recent Ready; Readys
// over 300 ms and ticks over 300 ms late are logged too (diag.go).
//
// SnapshotInterval 10000 entries (as SwarmKit) with 500 trailing entries;
// snapshots travel in 1 MiB chunks (transport) and are stored in 1 MiB
// bbolt values, so a snapshot of any size can reach a joining member.
package raft
