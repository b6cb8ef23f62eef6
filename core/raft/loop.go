package raft

import (
	"errors"
	"runtime"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

type report struct {
	removed    bool
	id         uint64
	snapshot   bool
	snapFailed bool
}

// run is the node's single goroutine.
func (n *Node) run() {
	err := n.loop()
	n.shutdown(err)
}

func (n *Node) loop() error {
	for {
		if !n.next() {
			return ErrStopped
		}
		if n.loopErr != nil {
			return n.loopErr
		}
		if err := n.settle(); err != nil {
			return err
		}
	}
}

// next waits for one input and handles it; false means Stop. A proposal or
// a received message is followed by the proposals and messages already
// queued behind it (up to maxGroup): group commit. Proposals that arrived
// while the previous Ready was being fsynced go into the next Ready
// together, one append and one fsync for all of them; a follower likewise
// appends the MsgApps queued behind one another with one fsync.
func (n *Node) next() bool {
	select {
	case at := <-n.ticker.C():
		n.tick(at)
	case m := <-n.recvc:
		n.step(m)
		n.takeQueued()
	case p := <-n.propc:
		n.requests++
		n.handlePropose(p)
		n.takeQueued()
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
	case r := <-n.snapDone:
		n.loopErr = n.finishSnapshot(r)
	case <-n.stopc:
		return false
	}
	return true
}

// maxGroup bounds how many queued proposals and messages one group takes
// before the loop settles (persists and sends): the loop stays responsive
// to ticks and requests under a flood.
const maxGroup = 256

// takeQueued handles the proposals and received messages already queued,
// without waiting for more (at most maxGroup).
func (n *Node) takeQueued() {
	for range maxGroup {
		select {
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.requests++
			n.handlePropose(p)
		default:
			return
		}
	}
}

// settle does what follows any input: handle the Ready batches and the
// node's own decisions (promote a learner, follow a transfer up, campaign
// on start), then publish the new state and answer Quiesce.
func (n *Node) settle() error {
	if err := n.drainReady(); err != nil {
		return err
	}
	n.maybePromote()
	n.checkTransfer() // before the drain: a retried transfer's messages go out now
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
	n.publish()
	n.answerQuiesce()
	return nil
}

// drainReady handles Ready batches until the raft node has none left.
// Between two Readys it takes a tick that is due, and the messages
// received meanwhile (takeDue): a long apply backlog, cut into Readys of at
// most MaxCommittedSizePerReady bytes of committed entries (etcd raft's
// default: MaxSizePerMsg), does not stop the leader's heartbeats, nor a
// follower's or the leader's own clock (issue 14).
func (n *Node) drainReady() error {
	for n.rn.HasReady() {
		if err := n.handleReady(n.rn.Ready()); err != nil {
			return err
		}
		n.takeDue()
	}
	return nil
}

// takeDue handles a tick that is waiting, without waiting for one, and
// then the received messages queued behind it (at most maxGroup). It takes
// messages only after a tick, so a flood of messages cannot keep a drain
// going: at most one group per tick interval. A leader answered by its
// followers meanwhile thus counts their answers (CheckQuorum) as the tick
// counts time.
func (n *Node) takeDue() {
	select {
	case at := <-n.ticker.C():
		n.tick(at)
	default:
		return
	}
	for range maxGroup {
		select {
		case m := <-n.recvc:
			n.step(m)
		default:
			return
		}
	}
}

// tick advances Raft's clock unless the gate finds the tick late (this
// process was starved; see tickGate).
func (n *Node) failAll(propErr, readErr error) {
	n.proposals.fail(propErr)
	n.reads.fail(readErr)
	n.confs.fail(propErr)
}

func (n *Node) step(m *pb.Message) {
	from := m.GetFrom()
	if m.GetTo() != n.id {
		n.log.Debug("raft: dropping misrouted message", "to", m.GetTo(), "from", from)
		return
	}
	if n.mem.removed[from] {
		return
	}
	n.mem.heard(from, n.ticks)
	n.heardTick = n.ticks
	if n.fromLeader(m) {
		n.diag.heardLeader(n.ticks)
	}
	if err := n.rn.Step(m); err != nil && !errors.Is(err, etcdraft.ErrStepPeerNotFound) {
		n.log.Debug("raft: step", "from", from, "type", m.GetType().String(), "err", err)
	}
}

// beat makes the leader send a heartbeat to every follower now, as a
// counted tick would (HeartbeatTick 1), without advancing its heartbeat
// and election clocks. MsgBeat is a local message: etcd raft takes it from
// its local targets only, so it is stepped as from the append thread.
func (n *Node) beat() {
	m := &pb.Message{Type: pb.MessageType_MsgBeat.Enum(), From: proto.Uint64(etcdraft.LocalAppendThread), To: proto.Uint64(n.id)}
	if err := n.rn.Step(m); err != nil {
		n.log.Debug("raft: heartbeat on a late tick", "err", err)
	}
}

// probeSilence is how many election timeouts of hearing from no peer make
// a member ask whether it was removed (see RemovalProber); it asks again
// as often while the silence lasts.
const probeSilence = 2

// tick advances raft's clock, unless this member knows it was removed (it
// would campaign for ever, every pre-vote refused), and asks the peers
// whether it was removed after a long silence.
// tick counts one tick of the ticker that fired at at; a late one (this
// process could not run) is not counted (tickgate.go).
//
// A leader's late tick still sends its heartbeats (beat), without
// advancing its clocks: a slow leader is not a dead one. Starved alone (it
// serves every agent's session while its followers idle), a leader whose
// gate ignored three late ticks in four heartbeated four times as seldom
// while its followers' clocks ran on time, past their election timeout:
// they elected another leader (issue 14's election storm at 2,400 nodes x
// 100k tasks). Its CheckQuorum clock still ignores late ticks, so a leader
// does not step down because it could not read its followers' answers.
func (n *Node) tick(at time.Time) {
	var late time.Duration
	if !at.IsZero() && !n.diag.lastTick.IsZero() {
		late = max(at.Sub(n.diag.lastTick)-n.cfg.TickInterval, 0)
	}
	counted := n.gate.admit(at)
	n.diag.tick(at, late, counted)
	if late >= slowReady {
		n.log.Warn("raft: late tick", "state", n.lead.state.String(), "late", late, "counted", counted)
	}
	if !counted {
		if n.isRaftLeader() && !n.removedSelf {
			n.beat()
			return
		}
		n.log.Debug("raft: late tick not counted")
		return
	}
	n.ticks++
	if n.removedSelf {
		return
	}
	n.rn.Tick()
	window := probeSilence * uint64(n.cfg.ElectionTick)
	if n.ticks-n.heardTick < window || n.ticks-n.probeTick < window || len(n.mem.members) < 2 {
		return
	}
	if p, ok := n.tr.(RemovalProber); ok {
		n.probeTick = n.ticks
		n.log.Debug("raft: no peer heard from for a while; asking whether this member was removed")
		p.ProbeRemoved(n.id)
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

// handleReady processes one Ready: send the messages that do not depend on
// this Ready's persistence, persist (fsync), send the rest, apply, Advance.
//
// The split is the one etcd raft makes itself with asynchronous storage
// writes (raft.go, send; "Asynchronous storage writes" in its doc.go):
// only MsgAppResp, MsgVoteResp and MsgPreVoteResp vote on state this
// node may not have persisted yet, so only they wait for the fsync. The
// leader's MsgApps thus leave before its own fsync and the followers'
// fsyncs run beside it (Raft thesis 10.2.1); the leader's own
// acknowledgement of its entries is stepped by Advance, after the fsync, so
// an entry still needs a quorum of durable copies to commit.
func (n *Node) handleReady(rd etcdraft.Ready) error {
	n.diag.ready(&rd)
	n.enterReady()
	defer n.leaveReady()
	t0 := n.now()
	early, late := splitMessages(rd.Messages)
	if len(early) > 0 {
		n.tr.Send(early)
		if len(rd.Entries) > 0 {
			yieldToSenders()
		}
	}
	t1 := n.now()
	if err := n.st.Append(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return err
	}
	t2 := n.now()
	n.applyingReady()
	n.confs.checkAccepted(rd.Entries)
	if len(late) > 0 {
		n.tr.Send(late)
		yieldToSenders()
	}
	defer n.noteSlowReady(&rd, t0, t1, t2)
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
	n.reads.confirmed(rd.ReadStates)
	n.reads.wake(n.applied)
	if rd.SoftState != nil {
		n.updateSoftState(rd.SoftState)
	}
	n.rn.Advance(rd)
	n.maybeAnnounce(rd.CommittedEntries)
	return n.maybeSnapshot()
}

// yieldToSenders lets the sender goroutines that Send just woke write their
// messages before this loop goes on: before its fdatasync (the leader's
// MsgApps, so the followers' fdatasyncs start beside its own) and before
// its apply (a follower's MsgAppResp, which the commit waits for). The loop
// in fdatasync holds a processor until the runtime's monitor retakes it,
// and with few processors shared by several managers (the 3-manager
// benchmarks: GOMAXPROCS 2) the woken sender otherwise waits for it. Only
// scheduling changes: the messages and the order of persist and send are
// the same (RATIONALE.md "Yielding to the senders").
func yieldToSenders() { runtime.Gosched() }

// splitMessages splits a Ready's messages into those that may leave before
// the Ready is persisted and the votes (log and election) that must wait
// for it. Order within each part is kept.
func splitMessages(msgs []*pb.Message) (early, late []*pb.Message) {
	for i, m := range msgs {
		if mustPersistFirst(m) {
			if late == nil {
				early = msgs[:i:i]
			}
			late = append(late, m)
		} else if late != nil {
			early = append(early, m)
		}
	}
	if late == nil {
		return msgs, nil
	}
	return early, late
}

// mustPersistFirst reports whether m answers for state this node may not
// have made durable yet (raft.go's msgsAfterAppend types).
func mustPersistFirst(m *pb.Message) bool {
	switch m.GetType() {
	case pb.MessageType_MsgAppResp, pb.MessageType_MsgVoteResp, pb.MessageType_MsgPreVoteResp:
		return true
	}
	return false
}
