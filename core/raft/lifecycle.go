package raft

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft/storage"
)

// dbFile is the bbolt file inside Config.DataDir.
const dbFile = "raft.db"

// Bootstrap creates a new single-member cluster in cfg.DataDir (shoal init).
func Bootstrap(cfg Config) (*Node, error) {
	n, err := newEmptyNode(cfg)
	if err != nil {
		return nil, err
	}
	n.id = n.cfg.ID
	for n.id == 0 {
		n.id = n.cfg.Rand()
	}
	if err := n.initIdentity(); err != nil {
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
	n, err := newEmptyNode(cfg)
	if err != nil {
		return nil, err
	}
	n.id = raftID
	if err := n.initMembers(members, removed); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	if err := n.initIdentity(); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	n.start()
	return n, nil
}

// newEmptyNode opens cfg.DataDir, which must not hold a member yet.
func newEmptyNode(cfg Config) (*Node, error) {
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
	return n, nil
}

// initIdentity stores this member's identity and creates its RawNode over
// the empty log.
func (n *Node) initIdentity() error {
	if err := n.st.SetIdentity(storage.Identity{RaftID: n.id, NodeID: n.cfg.NodeID, Addr: n.cfg.Addr}); err != nil {
		return err
	}
	return n.newRawNode(0)
}

// initMembers stores the membership a joining member got from the leader.
func (n *Node) initMembers(members []Member, removed []uint64) error {
	sm := make([]storage.Member, 0, len(members))
	for _, m := range members {
		// AddMember adds every new member as a learner; the log or snapshot
		// it catches up from says so too, but say it from the start.
		learner := m.Learner || m.RaftID == n.id
		n.mem.members[m.RaftID] = Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: learner}
		sm = append(sm, storage.Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: learner})
	}
	for _, r := range removed {
		n.mem.removed[r] = true
	}
	return n.st.SetMembers(sm, removed)
}

// Restart starts the member stored in cfg.DataDir (shoal run). cfg.ID,
// NodeID and Addr are taken from the data directory when zero.
func Restart(cfg Config) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.reload(); err != nil {
		_ = n.st.Close()
		return nil, err
	}
	// A single-voter cluster need not wait an election timeout.
	if v := n.mem.confState.GetVoters(); len(v) == 1 && v[0] == n.id {
		n.campaignOnStart = true
	}
	n.start()
	return n, nil
}

// reload loads this member's identity, last snapshot and membership from
// its data directory and creates its RawNode.
func (n *Node) reload() error {
	ident, ok, err := n.st.Identity()
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotInitialized
	}
	n.adoptIdentity(ident)
	snap, err := n.st.Snapshot()
	if err != nil {
		return err
	}
	if snap.GetMetadata().GetIndex() > 0 {
		if _, err := n.loadSnapshot(snap); err != nil {
			return err
		}
	}
	if err := n.loadMembers(); err != nil {
		return err
	}
	return n.newRawNode(n.applied)
}

// adoptIdentity takes the stored identity; a configured address that
// differs is ignored, with a warning.
func (n *Node) adoptIdentity(ident storage.Identity) {
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
}

// loadMembers loads the stored membership table: it is as of the last
// applied entry (the snapshot's table plus the conf changes applied since),
// learner flags included.
func (n *Node) loadMembers() error {
	mems, removed, err := n.st.Members()
	if err != nil {
		return err
	}
	for _, m := range mems {
		n.mem.members[m.RaftID] = Member{RaftID: m.RaftID, NodeID: m.NodeID, Addr: m.Addr, Learner: m.Learner}
	}
	for _, r := range removed {
		n.mem.removed[r] = true
		delete(n.mem.members, r)
	}
	if n.mem.removed[n.id] {
		n.removedSelf = true
		close(n.removedc)
	}
	return nil
}

func newNode(c Config) (*Node, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	st, err := storage.Open(filepath.Join(cfg.DataDir, dbFile), storage.WithSnapshotChunkSize(cfg.SnapshotChunkSize), storage.WithCipher(cfg.Cipher))
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger,
		st:        st,
		sm:        cfg.StateMachine,
		tr:        cfg.Transport,
		propc:     make(chan *proposal, 256),
		readc:     make(chan *readReq, 256),
		confc:     make(chan *confReq),
		transferc: make(chan *transferReq),
		recvc:     make(chan *pb.Message, 1024),
		reportc:   make(chan struct{}, 1),
		quiescec:  make(chan chan Quiescent),
		stopc:     make(chan struct{}),
		done:      make(chan struct{}),
		removedc:  make(chan struct{}),
		proposals: proposals{},
		reads:     newReads(),
		confs:     confChanges{waiters: map[uint64]*confReq{}},
		mem:       newMembership(),
		snapDone:  make(chan snapResult, 1),
		seq:       cfg.Rand(),
		now:       time.Now,
	}
	n.snapEvery.Store(cfg.SnapshotInterval)
	return n, nil
}

// SetSnapshotInterval makes the node snapshot every `every` applied entries from
// now on (the cluster's snapshot_interval); 0 is ignored.
func (n *Node) SetSnapshotInterval(every uint64) {
	if every > 0 {
		n.snapEvery.Store(every)
	}
}

func (n *Node) newRawNode(applied uint64) error {
	rn, err := etcdraft.NewRawNode(&etcdraft.Config{
		ID:                        n.id,
		ElectionTick:              n.cfg.ElectionTick,
		HeartbeatTick:             n.cfg.HeartbeatTick,
		Storage:                   n.st,
		Applied:                   applied,
		MaxSizePerMsg:             n.cfg.MaxSizePerMsg,
		MaxCommittedSizePerReady:  n.cfg.MaxCommittedSizePerReady,
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
		// The busy beat runs on wall time: only beside a real ticker, so
		// hand-driven nodes (rafttest) keep raft time in tick rounds.
		n.beatOn = true
		timeout := time.Duration(n.cfg.ElectionTick) * n.cfg.TickInterval
		n.busy = busyBeat{id: n.id, interval: n.cfg.TickInterval, maxBusy: 2 * timeout, maxApply: 10 * timeout}
	}
	n.gate = tickGate{interval: n.cfg.TickInterval, observe: n.cfg.OnTickLateness}
	n.tr.Start(n)
	n.tr.SetPeers(n.mem.peerAddrs(n.id))
	n.publish()
	go n.run()
	if n.beatOn {
		go n.runBusyBeat()
	}
}

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
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	if errors.Is(n.pub.err, ErrStopped) {
		return nil
	}
	return n.pub.err
}

// Removed is closed once this member's removal has been applied.
func (n *Node) Removed() <-chan struct{} { return n.removedc }

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
	n.snapWG.Wait()
	if err := n.st.Close(); err != nil && cause == ErrStopped {
		cause = err
	}
	n.pub.mu.Lock()
	n.pub.err = cause
	for _, s := range n.pub.subs {
		close(s)
	}
	n.pub.subs = nil
	n.pub.mu.Unlock()
	close(n.done)
}
