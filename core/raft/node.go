package raft

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft/storage"
)

// Member is one manager of the Raft group.
type Member struct {
	RaftID uint64
	NodeID string
	Addr   string
	// Reachable is true when this node heard from the member within the last
	// election timeout (always true for this member itself). Only the
	// leader hears from everyone, so it is meaningful on the leader.
	Reachable bool
	// Learner is true while the member is a non-voting learner: it was added
	// by AddMember and is still catching up. It does not count towards the
	// quorum and cannot become leader; the leader promotes it to a voter
	// once it has caught up (see Config.PromoteLag).
	Learner bool
}

// Status is a snapshot of the node's Raft state.
type Status struct {
	ID            uint64
	NodeID        string
	State         string // "leader", "follower", "candidate", "pre-candidate"
	IsLeader      bool   // leader and done applying the previous terms' entries
	Term          uint64
	Vote          uint64
	Commit        uint64
	Applied       uint64
	SnapshotIndex uint64
	Leader        uint64
	LeaderAddr    string
	Removed       bool
	// Learner is true while this member is a learner (joined, not promoted yet).
	Learner bool
}

// Node is one member of shoal's Raft group. One goroutine (run) owns the
// RawNode, the storage writes, the state machine calls and the loop-owned
// fields below, each concern in its own small type (proposals, reads,
// confs, mem, lead, transfer); other goroutines talk to it through channels
// and read what it publishes (pub) under pub.mu.
type Node struct {
	cfg    Config
	log    *slog.Logger
	st     *storage.Storage
	sm     StateMachine
	tr     Transport
	ticker Ticker
	id     uint64

	// snapEvery is the snapshot interval now (SetSnapshotInterval).
	snapEvery atomic.Uint64

	propc     chan *proposal
	readc     chan *readReq
	confc     chan *confReq
	transferc chan *transferReq
	recvc     chan *pb.Message
	reportc   chan struct{}
	quiescec  chan chan Quiescent
	stopc     chan struct{}
	done      chan struct{}
	removedc  chan struct{}
	stopOnce  sync.Once

	reportMu sync.Mutex
	reports  []report

	// loop-owned state
	rn              *etcdraft.RawNode
	seq             uint64 // last request ID
	ticks           uint64
	gate            tickGate
	diag            electionDiag
	now             func() time.Time // times Readys for the slow-Ready log and the busy beat
	busy            busyBeat         // shared with runBusyBeat (own lock)
	beatOn          bool             // runBusyBeat runs: a real ticker drives the node
	applied         uint64
	snapIndex       uint64
	snapBytes       uint64 // size of the last snapshot
	sinceSnapBytes  uint64 // bytes of the entries applied since it was taken
	snapping        bool   // a snapshot is being written (snapDone answers)
	snapDone        chan snapResult
	snapWG          sync.WaitGroup // the snapshot being written, waited for at shutdown
	loopErr         error          // a fatal error met outside settle
	proposals       proposals
	reads           reads
	confs           confChanges
	mem             membership
	lead            leadership
	transfer        transferTracker
	campaignOnStart bool
	removedSelf     bool
	heardTick       uint64           // tick of the last message from a peer
	probeTick       uint64           // tick of the last removal probe
	forceSnapshot   bool             // a member was added: the next snapshot must include it
	promoteTick     uint64           // 1 + the tick of the last promotion attempt (at most one per tick)
	requests        uint64           // requests taken from propc, readc, confc and transferc
	quiesced        []chan Quiescent // Quiesce calls waiting for the loop to go idle

	pub published
}

// published is the node's state as other goroutines see it: the loop
// copies it there after each input (publish); they read it under mu.
type published struct {
	mu      sync.Mutex
	status  Status
	members []Member
	removed map[uint64]bool // Step refuses messages from these
	subs    []chan bool     // LeaderChanges subscribers
	err     error           // why the node stopped
}

// ID returns this member's Raft ID.
func (n *Node) ID() uint64 { return n.id }

func (n *Node) nextID() uint64 {
	n.seq++
	if n.seq == 0 {
		n.seq++
	}
	return n.seq
}
