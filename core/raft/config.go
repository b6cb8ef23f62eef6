package raft

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft/storage"
)

// StateMachine is what the node applies committed entries to (core/store
// implements it). All three methods are called on the node's goroutine, in
// log order.
type StateMachine interface {
	// Apply applies one committed payload at log index. It must be
	// deterministic. Its error is returned to the proposer waiting on that
	// entry and is not fatal to raft.
	Apply(index uint64, payload []byte) error
	// Snapshot serialises the whole state as of the last applied index.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with a snapshot taken at index.
	Restore(index uint64, data []byte) error
}

// SnapshotCapturer is a StateMachine whose snapshot can be taken in two
// steps: CaptureSnapshot, on the node's goroutine, takes the state as of
// the last applied index (cheaply: e.g. references to immutable objects),
// and the function it returns serialises it on another goroutine while the
// node goes on applying. The node then writes the snapshot off its
// goroutine too, so a large state does not stall ticks and replication.
type SnapshotCapturer interface {
	CaptureSnapshot() func() ([]byte, error)
}

// Reporter is how a Transport tells the node about delivery failures. Its
// methods never block.
type Reporter interface {
	// ReportUnreachable says a message to raftID could not be delivered.
	ReportUnreachable(raftID uint64)
	// ReportSnapshot says whether a MsgSnap to raftID was delivered.
	ReportSnapshot(raftID uint64, failed bool)
}

// RemovalReporter is implemented by the node's Reporter: a transport calls
// ReportRemoved when a peer refused a message because this member was
// removed (Step returned ErrRemovedMember there). A removed member may
// otherwise never learn of its removal, as the leader stops sending to it.
type RemovalReporter interface {
	ReportRemoved()
}

// RemovalProber is implemented by a Transport that can ask the peers
// whether this member was removed. A member that hears from no one sends
// nothing either if it is a learner (learners never campaign), so no
// refusal of its messages would ever tell it: the node calls ProbeRemoved
// after a long silence, and the transport calls ReportRemoved if a peer
// says so. ProbeRemoved must not block.
type RemovalProber interface {
	ProbeRemoved(self uint64)
}

// Transport delivers Raft messages to peers. Send must never block: the node
// calls it on its own goroutine (queue, and drop on overflow; raft retransmits).
type Transport interface {
	// Start is called once by the node before any other method.
	Start(r Reporter)
	// Send queues messages for delivery; it may marshal them before returning,
	// and must not keep references to them after that.
	Send(msgs []*pb.Message)
	// SetPeers replaces the set of peers (Raft ID -> address), this member excluded.
	SetPeers(peers map[uint64]string)
	// Stop stops all senders; called once by Node.Stop.
	Stop()
}

// Defaults. See doc.go for the reasoning.
const (
	DefaultTickInterval      = 100 * time.Millisecond
	DefaultElectionTick      = 10
	DefaultHeartbeatTick     = 1
	DefaultSnapshotInterval  = 10000
	DefaultTrailingEntries   = 500
	DefaultSnapshotBytes     = 16 << 20
	DefaultTrailingBytes     = 4 << 20
	DefaultMaxSizePerMsg     = 1 << 20
	DefaultMaxInflightMsgs   = 256
	DefaultSnapshotChunkSize = 1 << 20
	DefaultMaxUncommitted    = 256 << 20
	DefaultPromoteLag        = 256
)

// Config configures a Node. Zero values take the defaults above.
type Config struct {
	// ID is the Raft ID of a bootstrapped member; 0 picks a random one.
	// Join takes the ID from the leader and Restart from the data directory.
	ID uint64
	// NodeID is the cluster node ID (certificate CN) of this manager.
	NodeID string
	// Addr is the address other managers reach this one's RaftService at.
	Addr string
	// DataDir holds raft.db.
	DataDir string
	// Cipher, when set, seals the log and snapshots in raft.db (autolock).
	Cipher storage.Cipher

	StateMachine StateMachine
	Transport    Transport

	// Ticker is the raft clock; nil means a real ticker of TickInterval.
	Ticker       Ticker
	TickInterval time.Duration
	// OnTickLateness, when set, is told how late each tick came (0 when on
	// time); it runs on the node's goroutine and must not block.
	OnTickLateness func(time.Duration)
	// ElectionTick and HeartbeatTick are in ticks.
	ElectionTick  int
	HeartbeatTick int
	// SnapshotInterval is the number of applied entries between snapshots.
	SnapshotInterval uint64
	// SnapshotBytes also makes a snapshot due once the entries applied since
	// the last one hold this many bytes, or as many as that snapshot held
	// if it was larger: the log kept in memory between snapshots is bounded
	// by bytes (group-committed entries are up to MaxSizePerMsg each, so a
	// count bounds little), and a snapshot is never written for less log
	// than its own size. It applies only to a StateMachine that is a
	// SnapshotCapturer (its snapshot is written off the node's goroutine);
	// another snapshots by SnapshotInterval alone.
	SnapshotBytes uint64
	// TrailingEntries is how many entries before a snapshot stay in the log
	// so slightly lagging followers catch up without a snapshot.
	TrailingEntries uint64
	// TrailingBytes bounds the bytes of those trailing entries (entries
	// are up to MaxSizePerMsg each once group-committed, so a count alone
	// bounds little).
	TrailingBytes uint64
	// MaxSizePerMsg bounds the entries bytes of one append message (one entry
	// larger than that is still sent alone).
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// MaxCommittedSizePerReady bounds the bytes of committed entries the
	// loop applies before it can take a due tick and the messages received
	// meanwhile (drainReady); 0 means MaxSizePerMsg (etcd raft's default).
	MaxCommittedSizePerReady uint64
	// MaxUncommittedBytes bounds the leader's uncommitted log; proposals past
	// it fail with ErrProposalDropped.
	MaxUncommittedBytes uint64
	// SnapshotChunkSize is how many bytes of snapshot go in one bbolt key.
	SnapshotChunkSize int
	// PromoteLag is how many entries behind the leader's commit index a
	// learner may be when the leader promotes it to a voter (see learner.go).
	PromoteLag uint64

	Logger *slog.Logger
	// Rand returns random Raft IDs and request-ID seeds; nil uses crypto/rand.
	Rand func() uint64
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.StateMachine == nil || out.Transport == nil {
		return out, fmt.Errorf("%w: StateMachine and Transport are required", ErrInvalidConfig)
	}
	if out.DataDir == "" {
		return out, fmt.Errorf("%w: DataDir is required", ErrInvalidConfig)
	}
	if out.TickInterval <= 0 {
		out.TickInterval = DefaultTickInterval
	}
	if out.ElectionTick <= 0 {
		out.ElectionTick = DefaultElectionTick
	}
	if out.HeartbeatTick <= 0 {
		out.HeartbeatTick = DefaultHeartbeatTick
	}
	if out.ElectionTick <= out.HeartbeatTick {
		return out, fmt.Errorf("%w: ElectionTick (%d) must exceed HeartbeatTick (%d)", ErrInvalidConfig, out.ElectionTick, out.HeartbeatTick)
	}
	if out.SnapshotInterval == 0 {
		out.SnapshotInterval = DefaultSnapshotInterval
	}
	if out.TrailingEntries == 0 {
		out.TrailingEntries = DefaultTrailingEntries
	}
	if out.SnapshotBytes == 0 {
		out.SnapshotBytes = DefaultSnapshotBytes
	}
	if out.TrailingBytes == 0 {
		out.TrailingBytes = DefaultTrailingBytes
	}
	if out.MaxSizePerMsg == 0 {
		out.MaxSizePerMsg = DefaultMaxSizePerMsg
	}
	if out.MaxInflightMsgs <= 0 {
		out.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if out.MaxUncommittedBytes == 0 {
		out.MaxUncommittedBytes = DefaultMaxUncommitted
	}
	if out.PromoteLag == 0 {
		out.PromoteLag = DefaultPromoteLag
	}
	if out.SnapshotChunkSize <= 0 {
		out.SnapshotChunkSize = DefaultSnapshotChunkSize
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Rand == nil {
		out.Rand = cryptoRand
	}
	return out, nil
}

func cryptoRand() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return binary.BigEndian.Uint64(b[:])
}
