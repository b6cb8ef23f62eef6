package raft

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

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

// dbFile is the bbolt file inside Config.DataDir.
const dbFile = "raft.db"

type proposal struct {
	payload []byte
	done    chan error
}

type readReq struct {
	index uint64
	done  chan error
}

type confKind int

const (
	confAdd confKind = iota
	confRemove
	confPromote // the leader's own promotion of a caught-up learner
)

type confResult struct {
	raftID  uint64
	members []Member
	err     error
}

type confReq struct {
	kind   confKind
	nodeID string
	addr   string
	raftID uint64
	done   chan confResult
}

type report struct {
	removed    bool
	id         uint64
	snapshot   bool
	snapFailed bool
}

// Node is one member of shoal's Raft group. One goroutine (run) owns the
// RawNode, the storage writes, the state machine calls and every field
// below marked "loop"; other goroutines talk to it through channels and read
// the published status under mu.
type Node struct {
	cfg    Config
	log    *slog.Logger
	st     *storage.Storage
	sm     StateMachine
	tr     Transport
	ticker Ticker
	id     uint64

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
	rn               *etcdraft.RawNode
	seq              uint64
	waiters          map[uint64]*proposal
	readWaiters      map[uint64]*readReq
	pendingReads     []*readReq
	confWaiters      map[uint64]*confReq
	pendingConfCheck uint64
	applied          uint64
	snapIndex        uint64
	confState        *pb.ConfState
	members          map[uint64]Member
	removed          map[uint64]bool
	ticks            uint64
	lastSeen         map[uint64]uint64
	raftState        etcdraft.StateType
	lead             uint64
	announced        bool // leadership announced (own-term entry applied)
	leaderTerm       uint64
	campaignOnStart  bool
	removedSelf      bool
	forceSnapshot    bool   // a member was added: the next snapshot must include it
	promoteTick      uint64 // 1 + the tick of the last promotion attempt (at most one per tick)
	transfer         transferTracker
	requests         uint64           // requests taken from propc, readc, confc and transferc
	quiesced         []chan Quiescent // Quiesce calls waiting for the loop to go idle

	mu     sync.Mutex
	pubRem map[uint64]bool
	status Status
	pubMem []Member
	subs   []chan bool
	err    error
}

// Bootstrap creates a new single-member cluster in cfg.DataDir (shoal init).
func Bootstrap(cfg Config) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	if _, ok, err := n.st.Identity(); err != nil || ok {
		_ = n.st.Close()
		if err != nil {
			return nil, err
		}
		return nil, ErrAlreadyInitialized
	}
	n.id = n.cfg.ID
	for n.id == 0 {
		n.id = n.cfg.Rand()
	}
	if err := n.st.SetIdentity(storage.Identity{RaftID: n.id, NodeID: n.cfg.NodeID, Addr: n.cfg.Addr}); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	if err := n.newRawNode(0); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	peers := []etcdraft.Peer{{ID: n.id, Context: storage.EncodeMember(n.cfg.NodeID, n.cfg.Addr)}}
	if err := n.rn.Bootstrap(peers); err != nil {
		_ = n.st.Close()
		return nil, fmt.Errorf("raft: bootstrap: %w", err)
	}
	n.campaignOnStart = true
	n.start()
	return n, nil
}

// Join starts a member that the leader has just added (Node.AddMember on
// the leader, reached through the Join RPC): raftID and members come from the
// JoinResponse. The log starts empty; the leader sends entries or a snapshot.
func Join(cfg Config, raftID uint64, members []Member, removed []uint64) (*Node, error) {
	if raftID == 0 {
		return nil, fmt.Errorf("%w: raft ID 0", ErrInvalidConfig)
	}
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	if _, ok, err := n.st.Identity(); err != nil || ok {
		_ = n.st.Close()
		if err != nil {
			return nil, err
		}
		return nil, ErrAlreadyInitialized
	}
	n.id = raftID
	sm := make([]storage.Member, 0, len(members))
	for _, m := range members {
		// AddMember adds every new member as a learner; the log or snapshot
		// it catches up from says so too, but say it from the start.
		learner := m.Learner || m.RaftID == raftID
		n.members[m.RaftID] = Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: learner}
		sm = append(sm, storage.Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: learner})
	}
	for _, r := range removed {
		n.removed[r] = true
	}
	if err := n.st.SetMembers(sm, removed); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	if err := n.st.SetIdentity(storage.Identity{RaftID: n.id, NodeID: n.cfg.NodeID, Addr: n.cfg.Addr}); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	if err := n.newRawNode(0); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	n.start()
	return n, nil
}

// Restart starts the member stored in cfg.DataDir (shoal run). cfg.ID,
// NodeID and Addr are taken from the data directory when zero.
func Restart(cfg Config) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Node, error) {
		_ = n.st.Close()
		return nil, err
	}
	ident, ok, err := n.st.Identity()
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(ErrNotInitialized)
	}
	n.id = ident.RaftID
	if n.cfg.NodeID == "" {
		n.cfg.NodeID = ident.NodeID
	}
	if n.cfg.Addr == "" {
		n.cfg.Addr = ident.Addr
	} else if n.cfg.Addr != ident.Addr {
		// The address is replicated in the membership; a change would need a
		// conf change. Keep the stored one and say so.
		n.log.Warn("raft: configured address differs from the stored one; using the stored address",
			"configured", n.cfg.Addr, "stored", ident.Addr)
		n.cfg.Addr = ident.Addr
	}
	snap, err := n.st.Snapshot()
	if err != nil {
		return fail(err)
	}
	if idx := snap.GetMetadata().GetIndex(); idx > 0 {
		env, err := decodeSnapshot(snap.GetData())
		if err != nil {
			return fail(err)
		}
		if err := n.sm.Restore(idx, env.data); err != nil {
			return fail(fmt.Errorf("raft: restore state machine at %d: %w", idx, err))
		}
		n.applied, n.snapIndex = idx, idx
		n.confState = proto.Clone(pb.EnsureConfState(snap.GetMetadata().GetConfState())).(*pb.ConfState)
		learners := learnerSet(n.confState)
		for _, m := range env.members {
			m.Learner = learners[m.RaftID]
			n.members[m.RaftID] = m
		}
		for _, r := range env.removed {
			n.removed[r] = true
		}
	}
	// The stored table is as of the last applied entry (the snapshot's
	// table plus the conf changes applied since), learner flags included.
	mems, removed, err := n.st.Members()
	if err != nil {
		return fail(err)
	}
	for _, m := range mems {
		n.members[m.RaftID] = Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: m.Learner}
	}
	for _, r := range removed {
		n.removed[r] = true
		delete(n.members, r)
	}
	if n.removed[n.id] {
		n.removedSelf = true
		close(n.removedc)
	}
	if err := n.newRawNode(n.applied); err != nil {
		return fail(err)
	}
	// A single-voter cluster need not wait an election timeout.
	if v := n.confState.GetVoters(); len(v) == 1 && v[0] == n.id {
		n.campaignOnStart = true
	}
	n.start()
	return n, nil
}

func newNode(c Config) (*Node, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	st, err := storage.Open(filepath.Join(cfg.DataDir, dbFile), storage.WithSnapshotChunkSize(cfg.SnapshotChunkSize))
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         cfg,
		log:         cfg.Logger,
		st:          st,
		sm:          cfg.StateMachine,
		tr:          cfg.Transport,
		propc:       make(chan *proposal, 256),
		readc:       make(chan *readReq, 256),
		confc:       make(chan *confReq),
		transferc:   make(chan *transferReq),
		recvc:       make(chan *pb.Message, 1024),
		reportc:     make(chan struct{}, 1),
		quiescec:    make(chan chan Quiescent),
		stopc:       make(chan struct{}),
		done:        make(chan struct{}),
		removedc:    make(chan struct{}),
		waiters:     map[uint64]*proposal{},
		readWaiters: map[uint64]*readReq{},
		confWaiters: map[uint64]*confReq{},
		confState:   &pb.ConfState{},
		members:     map[uint64]Member{},
		removed:     map[uint64]bool{},
		lastSeen:    map[uint64]uint64{},
		seq:         cfg.Rand(),
	}
	return n, nil
}

func (n *Node) newRawNode(applied uint64) error {
	rn, err := etcdraft.NewRawNode(&etcdraft.Config{
		ID:                        n.id,
		ElectionTick:              n.cfg.ElectionTick,
		HeartbeatTick:             n.cfg.HeartbeatTick,
		Storage:                   n.st,
		Applied:                   applied,
		MaxSizePerMsg:             n.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           n.cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: n.cfg.MaxUncommittedBytes,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{n.log},
	})
	if err != nil {
		return fmt.Errorf("raft: new raw node: %w", err)
	}
	n.rn = rn
	return nil
}

func (n *Node) start() {
	n.log = n.log.With("raft_id", fmt.Sprintf("%x", n.id))
	if n.cfg.Ticker != nil {
		n.ticker = n.cfg.Ticker
	} else {
		n.ticker = NewTicker(n.cfg.TickInterval)
	}
	n.tr.Start(n)
	n.tr.SetPeers(n.peerAddrs())
	n.publish()
	go n.run()
}

// ID returns this member's Raft ID.
func (n *Node) ID() uint64 { return n.id }

// Stop stops the node and closes its storage. It is safe to call more than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { close(n.stopc) })
	<-n.done
	return n.Err()
}

// Done is closed when the node has stopped (Stop, or a fatal storage error).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns the fatal error that stopped the node, if any.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if errors.Is(n.err, ErrStopped) {
		return nil
	}
	return n.err
}

// Removed is closed once this member's removal has been applied.
func (n *Node) Removed() <-chan struct{} { return n.removedc }

func (n *Node) nextID() uint64 {
	n.seq++
	if n.seq == 0 {
		n.seq++
	}
	return n.seq
}

// run is the node's single goroutine.
func (n *Node) run() {
	err := n.loop()
	n.shutdown(err)
}

func (n *Node) loop() error {
	for {
		select {
		case <-n.ticker.C():
			n.ticks++
			n.rn.Tick()
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.requests++
			n.handlePropose(p)
		case r := <-n.readc:
			n.requests++
			n.handleRead(r)
		case c := <-n.confc:
			n.requests++
			n.handleConf(c)
		case t := <-n.transferc:
			n.requests++
			n.handleTransfer(t)
		case <-n.reportc:
			n.handleReports()
		case q := <-n.quiescec:
			n.quiesced = append(n.quiesced, q)
		case <-n.stopc:
			return ErrStopped
		}
		if err := n.drainReady(); err != nil {
			return err
		}
		n.maybePromote()
		if err := n.drainReady(); err != nil {
			return err
		}
		if n.campaignOnStart && n.applied >= n.rn.BasicStatus().GetCommit() {
			n.campaignOnStart = false
			if err := n.rn.Campaign(); err != nil {
				n.log.Warn("raft: campaign", "err", err)
			}
			if err := n.drainReady(); err != nil {
				return err
			}
		}
		n.checkTransfer()
		n.publish()
		n.answerQuiesce()
	}
}

// drainReady handles Ready batches until the raft node has none left.
func (n *Node) drainReady() error {
	for n.rn.HasReady() {
		if err := n.handleReady(n.rn.Ready()); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) shutdown(cause error) {
	if !errors.Is(cause, ErrStopped) {
		n.log.Error("raft: node stopped on error", "err", cause)
	}
	stopErr := fmt.Errorf("%w: %v", ErrStopped, cause)
	if errors.Is(cause, ErrStopped) {
		stopErr = ErrStopped
	}
	n.failAll(stopErr, stopErr)
	if n.transfer.pending() {
		n.transfer.finish(stopErr)
	}
	n.ticker.Stop()
	n.tr.Stop()
	if err := n.st.Close(); err != nil && cause == ErrStopped {
		cause = err
	}
	n.mu.Lock()
	n.err = cause
	for _, s := range n.subs {
		close(s)
	}
	n.subs = nil
	n.mu.Unlock()
	close(n.done)
}

func (n *Node) failAll(propErr, readErr error) {
	for id, p := range n.waiters {
		p.done <- propErr
		delete(n.waiters, id)
	}
	for id, r := range n.readWaiters {
		r.done <- readErr
		delete(n.readWaiters, id)
	}
	for _, r := range n.pendingReads {
		r.done <- readErr
	}
	n.pendingReads = nil
	for id, c := range n.confWaiters {
		c.done <- confResult{err: propErr}
		delete(n.confWaiters, id)
	}
	n.pendingConfCheck = 0
}

func (n *Node) step(m *pb.Message) {
	from := m.GetFrom()
	if m.GetTo() != n.id {
		n.log.Debug("raft: dropping misrouted message", "to", m.GetTo(), "from", from)
		return
	}
	if n.removed[from] {
		return
	}
	n.lastSeen[from] = n.ticks
	if err := n.rn.Step(m); err != nil && !errors.Is(err, etcdraft.ErrStepPeerNotFound) {
		n.log.Debug("raft: step", "from", from, "type", m.GetType().String(), "err", err)
	}
}

func (n *Node) handleReports() {
	n.reportMu.Lock()
	reps := n.reports
	n.reports = nil
	n.reportMu.Unlock()
	for _, r := range reps {
		if r.removed {
			if !n.removedSelf {
				n.removedSelf = true
				close(n.removedc)
				n.log.Info("raft: a peer reports this member was removed from the cluster")
			}
			continue
		}
		if r.snapshot {
			st := etcdraft.SnapshotFinish
			if r.snapFailed {
				st = etcdraft.SnapshotFailure
			}
			n.rn.ReportSnapshot(r.id, st)
		} else {
			n.rn.ReportUnreachable(r.id)
		}
	}
}

func (n *Node) isRaftLeader() bool { return n.raftState == etcdraft.StateLeader }

func (n *Node) handlePropose(p *proposal) {
	switch {
	case n.removedSelf:
		p.done <- ErrRemoved
		return
	case !n.isRaftLeader():
		p.done <- ErrNotLeader
		return
	}
	id := n.nextID()
	if err := n.rn.Propose(encodeEntry(n.id, id, p.payload)); err != nil {
		p.done <- fmt.Errorf("%w: %v", ErrProposalDropped, err)
		return
	}
	n.waiters[id] = p
}

func (n *Node) handleRead(r *readReq) {
	if !n.isRaftLeader() {
		r.done <- ErrNotLeader
		return
	}
	id := n.nextID()
	var ctx [8]byte
	binary.BigEndian.PutUint64(ctx[:], id)
	n.readWaiters[id] = r
	n.rn.ReadIndex(ctx[:])
}

func (n *Node) reachable(id uint64) bool {
	if id == n.id {
		return true
	}
	seen, ok := n.lastSeen[id]
	return ok && n.ticks-seen <= uint64(n.cfg.ElectionTick)
}

func (n *Node) handleConf(c *confReq) {
	fail := func(err error) { c.done <- confResult{err: err} }
	switch {
	case n.removedSelf:
		fail(ErrRemoved)
		return
	case !n.isRaftLeader():
		fail(ErrNotLeader)
		return
	case n.pendingConfCheck != 0 || len(n.confWaiters) > 0:
		fail(ErrConfChangeInProgress)
		return
	}
	reqID := n.nextID()
	var cc *pb.ConfChange
	switch c.kind {
	case confAdd:
		for _, m := range n.members {
			if m.NodeID == c.nodeID {
				fail(fmt.Errorf("%w: node %s is raft member %x", ErrMemberExists, c.nodeID, m.RaftID))
				return
			}
		}
		// A learner does not count towards the quorum, so adding one
		// cannot cost the group its quorum: no reachability check here.
		// The check happens before the promotion (maybePromote).
		id := uint64(0)
		for id == 0 || n.removed[id] || n.members[id].RaftID != 0 {
			id = n.cfg.Rand()
		}
		c.raftID = id
		cc = &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(id), Context: storage.EncodeMember(c.nodeID, c.addr), Id: proto.Uint64(reqID)}
	case confRemove:
		if _, ok := n.members[c.raftID]; !ok {
			fail(fmt.Errorf("%w: %x", ErrMemberNotFound, c.raftID))
			return
		}
		// Removing a learner leaves the voters, hence the quorum, as they are.
		if voters := n.confState.GetVoters(); slices.Contains(voters, c.raftID) {
			if len(voters) == 1 {
				fail(ErrLastManager)
				return
			}
			reach := 0
			for _, id := range voters {
				if id != c.raftID && n.reachable(id) {
					reach++
				}
			}
			if remaining := len(voters) - 1; reach < remaining/2+1 {
				fail(fmt.Errorf("%w: %d of the %d remaining voters reachable", ErrCannotRemoveMember, reach, remaining))
				return
			}
		}
		cc = &pb.ConfChange{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(c.raftID), Id: proto.Uint64(reqID)}
	case confPromote:
		m := n.members[c.raftID]
		cc = &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(c.raftID), Context: storage.EncodeMember(m.NodeID, m.Addr), Id: proto.Uint64(reqID)}
	}
	if err := n.rn.ProposeConfChange(cc); err != nil {
		fail(fmt.Errorf("%w: %v", ErrProposalDropped, err))
		return
	}
	n.confWaiters[reqID] = c
	n.pendingConfCheck = reqID
}

// handleReady processes one Ready in the order etcd raft requires: persist
// (fsync), then send, then apply, then Advance.
func (n *Node) handleReady(rd etcdraft.Ready) error {
	if err := n.st.Append(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return err
	}
	if n.pendingConfCheck != 0 {
		n.checkConfAccepted(rd.Entries)
	}
	if len(rd.Messages) > 0 {
		n.tr.Send(rd.Messages)
	}
	if rd.Snapshot != nil && !etcdraft.IsEmptySnap(rd.Snapshot) {
		if err := n.restoreSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	for _, e := range rd.CommittedEntries {
		if err := n.applyEntry(e); err != nil {
			return err
		}
	}
	n.serveReads(rd.ReadStates)
	if rd.SoftState != nil {
		n.updateSoftState(rd.SoftState)
	}
	n.rn.Advance(rd)
	n.maybeAnnounce(rd.CommittedEntries)
	return n.maybeSnapshot()
}

// checkConfAccepted fails the pending membership change when raft replaced
// it by an empty entry (it does so while an earlier change is unapplied).
func (n *Node) checkConfAccepted(ents []*pb.Entry) {
	id := n.pendingConfCheck
	n.pendingConfCheck = 0
	for _, e := range ents {
		if e.GetType() != pb.EntryConfChange {
			continue
		}
		var cc pb.ConfChange
		if proto.Unmarshal(e.GetData(), &cc) == nil && cc.GetId() == id {
			return
		}
	}
	if c, ok := n.confWaiters[id]; ok {
		delete(n.confWaiters, id)
		c.done <- confResult{err: ErrConfChangeInProgress}
	}
}

func (n *Node) restoreSnapshot(snap *pb.Snapshot) error {
	idx := snap.GetMetadata().GetIndex()
	env, err := decodeSnapshot(snap.GetData())
	if err != nil {
		return err
	}
	if err := n.sm.Restore(idx, env.data); err != nil {
		return fmt.Errorf("raft: restore state machine at %d: %w", idx, err)
	}
	n.members = map[uint64]Member{}
	n.removed = map[uint64]bool{}
	learners := learnerSet(snap.GetMetadata().GetConfState())
	sm := make([]storage.Member, 0, len(env.members))
	for _, m := range env.members {
		m.Learner = learners[m.RaftID]
		n.members[m.RaftID] = m
		sm = append(sm, storage.Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: m.Learner})
	}
	for _, r := range env.removed {
		n.removed[r] = true
	}
	if err := n.st.SetMembers(sm, env.removed); err != nil {
		return err
	}
	n.applied, n.snapIndex = idx, idx
	n.confState = proto.Clone(pb.EnsureConfState(snap.GetMetadata().GetConfState())).(*pb.ConfState)
	n.tr.SetPeers(n.peerAddrs())
	n.log.Info("raft: restored snapshot", "index", idx, "bytes", len(snap.GetData()))
	return nil
}

func (n *Node) applyEntry(e *pb.Entry) error {
	idx := e.GetIndex()
	if idx <= n.applied {
		return nil
	}
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) > 0 {
			origin, reqID, payload, err := decodeEntry(e.GetData())
			if err != nil {
				n.log.Error("raft: skipping entry", "index", idx, "err", err)
				break
			}
			aerr := n.sm.Apply(idx, payload)
			if origin == n.id {
				if p, ok := n.waiters[reqID]; ok {
					delete(n.waiters, reqID)
					p.done <- aerr
				}
			}
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("raft: conf change at %d: %w", idx, err)
		}
		if err := n.applyConfChange(&cc); err != nil {
			return err
		}
	default:
		return fmt.Errorf("raft: unsupported entry type %v at %d", e.GetType(), idx)
	}
	n.applied = idx
	n.wakeReads()
	return nil
}

func (n *Node) applyConfChange(cc *pb.ConfChange) error {
	id := cc.GetNodeId()
	switch cc.GetType() {
	case pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode, pb.ConfChangeUpdateNode:
		nodeID, addr, _, err := storage.DecodeMember(cc.GetContext())
		if err != nil {
			return fmt.Errorf("raft: conf change context: %w", err)
		}
		if !n.removed[id] {
			prev, known := n.members[id]
			learner := cc.GetType() == pb.ConfChangeAddLearnerNode
			if cc.GetType() == pb.ConfChangeUpdateNode && known {
				learner = prev.Learner
			}
			promotion := known && prev.Learner && !learner
			if !promotion {
				// A joining member rejects a snapshot whose ConfState lacks it, so
				// snapshot again right after it is added. A promoted learner is
				// in the last snapshot already (as a learner, which it accepts).
				n.forceSnapshot = true
			}
			n.members[id] = Member{RaftID: id, NodeID: nodeID, Addr: addr, Learner: learner}
			if err := n.st.PutMember(storage.Member{RaftID: id, NodeID: nodeID, Addr: addr, Learner: learner}); err != nil {
				return err
			}
			if promotion {
				n.log.Info("raft: learner promoted to voter", "member", fmt.Sprintf("%x", id), "node_id", nodeID)
			}
		}
	case pb.ConfChangeRemoveNode:
		delete(n.members, id)
		n.removed[id] = true
		if err := n.st.RemoveMember(id); err != nil {
			return err
		}
	}
	n.confState = n.rn.ApplyConfChange(cc)
	n.tr.SetPeers(n.peerAddrs())
	if id == n.id && cc.GetType() == pb.ConfChangeRemoveNode && !n.removedSelf {
		n.removedSelf = true
		close(n.removedc)
		n.log.Info("raft: this member was removed from the cluster")
	}
	if c, ok := n.confWaiters[cc.GetId()]; ok {
		delete(n.confWaiters, cc.GetId())
		// Members() must show the change once the caller hears it is applied.
		n.publish()
		c.done <- confResult{raftID: id, members: n.memberList()}
	}
	return nil
}

func (n *Node) serveReads(states []etcdraft.ReadState) {
	for _, rs := range states {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(rs.RequestCtx)
		r, ok := n.readWaiters[id]
		if !ok {
			continue
		}
		delete(n.readWaiters, id)
		r.index = rs.Index
		n.pendingReads = append(n.pendingReads, r)
	}
	n.wakeReads()
}

func (n *Node) wakeReads() {
	if len(n.pendingReads) == 0 {
		return
	}
	kept := n.pendingReads[:0]
	for _, r := range n.pendingReads {
		if r.index <= n.applied {
			r.done <- nil
		} else {
			kept = append(kept, r)
		}
	}
	clear(n.pendingReads[len(kept):])
	n.pendingReads = kept
}

func (n *Node) updateSoftState(ss *etcdraft.SoftState) {
	wasLeader := n.isRaftLeader()
	n.lead, n.raftState = ss.Lead, ss.RaftState
	if n.isRaftLeader() && !wasLeader {
		n.leaderTerm = n.rn.BasicStatus().GetTerm()
		n.announced = false
		// Every voter was heard from "now": a new leader must not count
		// its peers unreachable before the first heartbeat round. Learners
		// are not: one must really answer before it is promoted.
		for _, id := range n.confState.GetVoters() {
			n.lastSeen[id] = n.ticks
		}
	}
	if wasLeader && !n.isRaftLeader() {
		n.failAll(ErrLeadershipLost, ErrNotLeader)
		if n.announced {
			n.announced = false
			n.notifyLeadership(false)
		}
	}
}

// maybeAnnounce announces leadership once the leader has applied an entry
// of its own term: from then on its state machine holds every committed
// entry, so leader-only components may read it.
func (n *Node) maybeAnnounce(ents []*pb.Entry) {
	if !n.isRaftLeader() || n.announced {
		return
	}
	for _, e := range ents {
		if e.GetTerm() == n.leaderTerm && e.GetIndex() <= n.applied {
			n.announced = true
			n.notifyLeadership(true)
			return
		}
	}
}

func (n *Node) notifyLeadership(v bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.status.IsLeader = v
	for _, s := range n.subs {
		select {
		case <-s:
		default:
		}
		s <- v
	}
}

func (n *Node) maybeSnapshot() error {
	due := n.applied >= n.snapIndex+n.cfg.SnapshotInterval
	if n.forceSnapshot && n.applied > n.snapIndex {
		// Only when the log was compacted is a snapshot ever sent; a young
		// log catches a new member up by entries.
		if first, err := n.st.FirstIndex(); err != nil {
			return err
		} else if first > 1 {
			due = true
		}
	}
	n.forceSnapshot = false
	if !due {
		return nil
	}
	data, err := n.sm.Snapshot()
	if err != nil {
		n.log.Error("raft: state machine snapshot failed; will retry", "err", err)
		return nil
	}
	env := encodeSnapshot(snapshotEnvelope{members: n.memberListRaw(), removed: n.removedList(), data: data})
	if _, err := n.st.CreateSnapshot(n.applied, n.confState, env); err != nil {
		return err
	}
	n.snapIndex = n.applied
	if n.snapIndex > n.cfg.TrailingEntries {
		compact := n.snapIndex - n.cfg.TrailingEntries
		first, err := n.st.FirstIndex()
		if err != nil {
			return err
		}
		if compact > first {
			if err := n.st.Compact(compact); err != nil {
				return err
			}
		}
	}
	n.log.Info("raft: snapshot", "index", n.snapIndex, "bytes", len(env))
	return nil
}

func (n *Node) peerAddrs() map[uint64]string {
	out := make(map[uint64]string, len(n.members))
	for id, m := range n.members {
		if id != n.id {
			out[id] = m.Addr
		}
	}
	return out
}

func (n *Node) memberListRaw() []Member {
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: m.Learner})
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.RaftID, b.RaftID) })
	return out
}

func (n *Node) memberList() []Member {
	out := n.memberListRaw()
	for i := range out {
		out[i].Reachable = n.reachable(out[i].RaftID)
	}
	return out
}

func (n *Node) removedList() []uint64 {
	out := make([]uint64, 0, len(n.removed))
	for id := range n.removed {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (n *Node) publish() {
	bs := n.rn.BasicStatus()
	mems := n.memberList()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.status = Status{
		ID:            n.id,
		NodeID:        n.cfg.NodeID,
		State:         stateName(bs.RaftState),
		IsLeader:      n.announced && n.isRaftLeader(),
		Term:          bs.GetTerm(),
		Vote:          bs.GetVote(),
		Commit:        bs.GetCommit(),
		Applied:       n.applied,
		SnapshotIndex: n.snapIndex,
		Leader:        bs.Lead,
		Removed:       n.removedSelf,
		Learner:       n.members[n.id].Learner,
	}
	if m, ok := n.members[bs.Lead]; ok {
		n.status.LeaderAddr = m.Addr
	}
	n.pubMem = mems
	if len(n.pubRem) != len(n.removed) {
		n.pubRem = maps.Clone(n.removed)
	}
}

func stateName(s etcdraft.StateType) string {
	switch s {
	case etcdraft.StateLeader:
		return "leader"
	case etcdraft.StateCandidate:
		return "candidate"
	case etcdraft.StatePreCandidate:
		return "pre-candidate"
	}
	return "follower"
}
