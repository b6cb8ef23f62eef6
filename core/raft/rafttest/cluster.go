package rafttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/core/raft"
)

// ClusterOptions tunes a Cluster.
type ClusterOptions struct {
	// TickEvery is the wall time the driver goroutine waits before a tick
	// round when no message is due (default 2 ms). It paces the run and
	// changes nothing in it. Unused with Manual.
	TickEvery        time.Duration
	SnapshotInterval uint64
	TrailingEntries  uint64
	// SnapshotBytes is raft.Config.SnapshotBytes (0: the default); it
	// applies with Capturing only.
	SnapshotBytes uint64
	// Capturing makes the members' KV a raft.SnapshotCapturer: snapshots
	// are written off the nodes' goroutines (and runs are then not
	// deterministic in when a snapshot lands).
	Capturing bool
	// ChunkSize is the network's chunk size (default 1 MiB).
	ChunkSize int
	// PromoteLag is raft.Config.PromoteLag (0: the default).
	PromoteLag uint64
	// MaxCommittedSizePerReady is raft.Config.MaxCommittedSizePerReady
	// (0: the default).
	MaxCommittedSizePerReady uint64
	// Seed drives the run: the delivery order, ticks, drops, delays and
	// the nodes' random IDs (0: a random seed). SeedEnv overrides it; a
	// failed test logs it.
	Seed uint64
	// Manual leaves the stepping to the test (Step, RunUntil, Call and the
	// Cluster's waits): no driver goroutine.
	Manual bool
	// Trace records every tick round, delivery and drop (Net.Trace).
	Trace  bool
	Logger *slog.Logger
}

// Member is one node of a Cluster.
type Member struct {
	ID     uint64
	NodeID string
	Dir    string
	Node   *raft.Node
	KV     *KV
	ticker *ManualTicker
	ticks  atomic.Uint64
	// starve > 0: this member's process is starved alone; it takes a tick
	// every starve rounds only, stamped starve tick intervals after its
	// previous one (late), while the others tick on time (SetStarved).
	starve int
	clock  time.Time
}

// Ticks returns how many ticks this member's node has taken.
func (m *Member) Ticks() uint64 { return m.ticks.Load() }

// WaitTicks waits until m has taken n more ticks (or timeout of wall time
// passes): a window measured in raft time.
func (c *Cluster) WaitTicks(m *Member, n uint64, timeout time.Duration) {
	c.t.Helper()
	target := m.Ticks() + n
	if !c.Await(timeout, func() bool { return m.Ticks() >= target }) {
		c.t.Fatalf("%s took %d of %d ticks within %v", m.NodeID, n-(target-m.Ticks()), n, timeout)
	}
}

// Cluster runs Raft nodes on an in-memory Network with real bbolt storage.
type Cluster struct {
	t    testing.TB
	Net  *Network
	dir  string
	opts ClusterOptions
	seed uint64

	stepMu  sync.Mutex // held by one driver action, and by Call until its request reached the node
	stopc   chan struct{}
	runDone chan struct{}

	mu        sync.Mutex
	members   map[uint64]*Member
	rnd       *rand.Rand
	now       uint64 // tick rounds taken
	tickGap   time.Duration
	clock     time.Time // stamp of the last stamped tick round
	deadlines []deadline
}

// NewCluster returns an empty cluster; Close it (t.Cleanup does).
func NewCluster(t testing.TB, opts ClusterOptions) *Cluster {
	if opts.TickEvery <= 0 {
		opts.TickEvery = 2 * time.Millisecond
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	seed := pickSeed(t, opts.Seed)
	c := &Cluster{
		t:       t,
		Net:     NewNetwork(opts.ChunkSize, seed),
		dir:     t.TempDir(),
		opts:    opts,
		seed:    seed,
		stopc:   make(chan struct{}),
		runDone: make(chan struct{}),
		members: map[uint64]*Member{},
		rnd:     rand.New(rand.NewPCG(seed, 7)),
	}
	if opts.Trace {
		c.Net.Record()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rafttest seed %d; replay: %s=%d go test -run '^%s$' ./core/raft/rafttest", seed, SeedEnv, seed, t.Name())
		}
	})
	t.Cleanup(c.Close)
	if opts.Manual {
		close(c.runDone)
	} else {
		go c.run()
	}
	return c
}

// Addr is the fake address of the member named nodeID.
func Addr(nodeID string) string { return nodeID + ":4242" }

func (c *Cluster) config(id uint64, nodeID string, kv *KV, tk *ManualTicker) raft.Config {
	c.mu.Lock()
	seed := c.rnd.Uint64()
	c.mu.Unlock()
	r := rand.New(rand.NewPCG(seed, id))
	var rmu sync.Mutex
	return raft.Config{
		ID:                       id,
		NodeID:                   nodeID,
		Addr:                     Addr(nodeID),
		DataDir:                  filepath.Join(c.dir, nodeID),
		StateMachine:             c.stateMachine(kv),
		SnapshotBytes:            c.opts.SnapshotBytes,
		Transport:                c.Net.Transport(id),
		Ticker:                   tk,
		SnapshotInterval:         c.opts.SnapshotInterval,
		TrailingEntries:          c.opts.TrailingEntries,
		PromoteLag:               c.opts.PromoteLag,
		MaxCommittedSizePerReady: c.opts.MaxCommittedSizePerReady,
		Logger:                   c.opts.Logger.With("node", nodeID),
		Rand: func() uint64 {
			rmu.Lock()
			defer rmu.Unlock()
			return r.Uint64()
		},
	}
}

// capturingKV is a KV whose snapshot is serialised off the node's
// goroutine (raft.SnapshotCapturer); the KV's own Snapshot is cheap, so
// it is taken at capture.
type capturingKV struct{ *KV }

func (k capturingKV) CaptureSnapshot() func() ([]byte, error) {
	data, err := k.Snapshot()
	return func() ([]byte, error) { return data, err }
}

func (c *Cluster) stateMachine(kv *KV) raft.StateMachine {
	if c.opts.Capturing {
		return capturingKV{kv}
	}
	return kv
}

func (c *Cluster) add(m *Member) {
	c.stepMu.Lock()
	defer c.stepMu.Unlock()
	c.Net.Attach(m.ID, m.Node)
	c.mu.Lock()
	c.members[m.ID] = m
	c.mu.Unlock()
}

// Bootstrap starts a new single-member cluster with Raft ID id.
func (c *Cluster) Bootstrap(id uint64) *Member {
	c.t.Helper()
	m := &Member{ID: id, NodeID: fmt.Sprintf("n%x", id), KV: NewKV(), ticker: NewManualTicker()}
	cfg := c.config(id, m.NodeID, m.KV, m.ticker)
	m.Dir = cfg.DataDir
	n, err := raft.Bootstrap(cfg)
	if err != nil {
		c.t.Fatalf("bootstrap: %v", err)
	}
	m.Node = n
	c.add(m)
	return m
}

// Join adds a new member named nodeID through the current leader, starts
// it and waits until the leader has promoted it from learner to voter.
func (c *Cluster) Join(nodeID string) *Member {
	c.t.Helper()
	id, members := c.AddLearner(nodeID)
	m := c.StartJoined(nodeID, id, members)
	c.WaitVoter(m.ID, 60*time.Second)
	return m
}

// AddLearner adds nodeID through the current leader (retrying on retryable
// errors) without starting it: it is a learner until StartJoined starts it
// and it catches up.
func (c *Cluster) AddLearner(nodeID string) (uint64, []raft.Member) {
	c.t.Helper()
	var id uint64
	var members []raft.Member
	err := c.retry(30*time.Second, func(ctx context.Context, l *Member) error {
		var err error
		id, members, err = l.Node.AddMember(ctx, nodeID, Addr(nodeID))
		return err
	})
	if err != nil {
		c.t.Fatalf("add member %s: %v", nodeID, err)
	}
	return id, members
}

// StartJoined starts the member AddLearner added (raft.Join).
func (c *Cluster) StartJoined(nodeID string, id uint64, members []raft.Member) *Member {
	c.t.Helper()
	m := &Member{ID: id, NodeID: nodeID, KV: NewKV(), ticker: NewManualTicker()}
	cfg := c.config(id, nodeID, m.KV, m.ticker)
	m.Dir = cfg.DataDir
	n, err := raft.Join(cfg, id, members, nil)
	if err != nil {
		c.t.Fatalf("join: %v", err)
	}
	m.Node = n
	c.add(m)
	return m
}

// MemberOf returns the leader's view of member id (ok false without a
// leader or when id is no member).
func (c *Cluster) MemberOf(id uint64) (raft.Member, bool) {
	l := c.Leader()
	if l == nil {
		return raft.Member{}, false
	}
	for _, m := range l.Node.Members() {
		if m.RaftID == id {
			return m, true
		}
	}
	return raft.Member{}, false
}

// WaitVoter waits until the leader lists member id as a voter.
func (c *Cluster) WaitVoter(id uint64, timeout time.Duration) {
	c.t.Helper()
	if c.Await(timeout, func() bool { m, ok := c.MemberOf(id); return ok && !m.Learner }) {
		return
	}
	m, ok := c.MemberOf(id)
	c.t.Fatalf("member %x not promoted to voter within %v (leader's view: %+v, listed %v)", id, timeout, m, ok)
}

// Stop stops a member cleanly and detaches it.
func (c *Cluster) Stop(m *Member) {
	c.t.Helper()
	if err := c.stop(m); err != nil {
		c.t.Errorf("stop %s: %v", m.NodeID, err)
	}
}

func (c *Cluster) stop(m *Member) error {
	c.stepMu.Lock()
	defer c.stepMu.Unlock()
	c.Net.Detach(m.ID)
	c.mu.Lock()
	delete(c.members, m.ID)
	c.mu.Unlock()
	return m.Node.Stop()
}

// Restart starts a stopped member again from its data directory with an
// empty state machine.
func (c *Cluster) Restart(m *Member) *Member {
	c.t.Helper()
	nm := &Member{ID: m.ID, NodeID: m.NodeID, Dir: m.Dir, KV: NewKV(), ticker: NewManualTicker()}
	cfg := c.config(m.ID, m.NodeID, nm.KV, nm.ticker)
	n, err := raft.Restart(cfg)
	if err != nil {
		c.t.Fatalf("restart %s: %v", m.NodeID, err)
	}
	nm.Node = n
	c.add(nm)
	return nm
}

// Members returns the running members.
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Member, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, m)
	}
	return out
}

// Leader returns the running member that is an announced leader, or nil.
func (c *Cluster) Leader() *Member {
	var best *Member
	var term uint64
	for _, m := range c.Members() {
		st := m.Node.Status()
		if st.IsLeader && st.Term >= term {
			best, term = m, st.Term
		}
	}
	return best
}

// WaitLeader waits for a leader among the running members.
func (c *Cluster) WaitLeader(timeout time.Duration) *Member {
	c.t.Helper()
	var l *Member
	if !c.Await(timeout, func() bool { l = c.Leader(); return l != nil }) {
		c.t.Fatalf("no leader within %v", timeout)
	}
	return l
}

// callTicks is the raft-time limit of one attempt of a retried request.
const callTicks = 30 * raft.DefaultElectionTick

// retry runs f on the leader until it succeeds or timeout of wall time
// passes, retrying on errors that mean "try again elsewhere or later".
func (c *Cluster) retry(timeout time.Duration, f func(ctx context.Context, l *Member) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		l := c.Leader()
		if l == nil {
			c.pause()
			continue
		}
		err := c.Call(l, callTicks, func(ctx context.Context) error { return f(ctx, l) })
		if err == nil {
			return nil
		}
		last = err
		if !Retryable(err) {
			return err
		}
		c.pause()
	}
	return fmt.Errorf("gave up after %v: %w", timeout, last)
}

// Retryable reports whether a Propose/AddMember error means "retry".
func Retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrProposalDropped) || errors.Is(err, raft.ErrConfChangeInProgress) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, raft.ErrStopped)
}

// Propose proposes payload on the leader, retrying until it is applied.
func (c *Cluster) Propose(payload []byte) error {
	return c.retry(60*time.Second, func(ctx context.Context, l *Member) error { return l.Node.Propose(ctx, payload) })
}

// WaitConverged waits until every running member applied the same index
// (at least min) and holds the same data.
func (c *Cluster) WaitConverged(min uint64, timeout time.Duration) {
	c.t.Helper()
	var why string
	if !c.Await(timeout, func() bool { why = c.converged(min); return why == "" }) {
		c.t.Fatalf("not converged within %v: %s", timeout, why)
	}
}

func (c *Cluster) converged(min uint64) string {
	ms := c.Members()
	if len(ms) == 0 {
		return "no members"
	}
	first := ms[0]
	for _, m := range ms {
		st := m.Node.Status()
		if st.Applied < min {
			return fmt.Sprintf("%s applied %d < %d", m.NodeID, st.Applied, min)
		}
		if st.Applied != first.Node.Status().Applied {
			return fmt.Sprintf("%s applied %d, %s applied %d", m.NodeID, st.Applied, first.NodeID, first.Node.Status().Applied)
		}
		if !maps.Equal(m.KV.Data(), first.KV.Data()) {
			return fmt.Sprintf("%s and %s differ", m.NodeID, first.NodeID)
		}
		if v := m.KV.Violations(); len(v) > 0 {
			return fmt.Sprintf("%s apply order: %v", m.NodeID, v)
		}
	}
	return ""
}

// Close stops the driver, every member and the network.
func (c *Cluster) Close() {
	select {
	case <-c.stopc:
	default:
		close(c.stopc)
	}
	<-c.runDone
	for _, m := range c.Members() {
		_ = c.stop(m)
	}
	c.mu.Lock()
	for _, d := range c.deadlines {
		d.cancel()
	}
	c.deadlines = nil
	c.mu.Unlock()
	c.Net.Close()
}
