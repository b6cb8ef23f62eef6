package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"
	"github.com/shoal-project/shoal/internal/clock"
)

// Defaults for Options.
const (
	DefaultChunkSize     = 1 << 20
	DefaultQueueSize     = 1024
	DefaultSendTimeout   = 10 * time.Second
	DefaultRetryDelay    = 100 * time.Millisecond
	DefaultMaxRetryDelay = time.Second
)

// ClientFunc returns a RaftService client for a peer address (with the
// caller's TLS setup). It is called once per peer address. Build the client
// on NewHTTPClient: without its health checks a connection a partition
// silently cut stays in use for minutes.
type ClientFunc func(addr string) shoalv1connect.RaftServiceClient

// Options configures a Transport.
type Options struct {
	Client ClientFunc
	// Dial, when set, opens the direct path to a peer (direct.go; build
	// it with TLSDialer): MsgApps, heartbeats and responses go that way,
	// snapshots and peers that do not negotiate ProtoRaft use Client.
	Dial DialFunc
	// ChunkSize is the largest RaftMessageChunk payload (default 1 MiB).
	ChunkSize int
	// QueueSize is the per-peer queue length in messages (default 1024).
	QueueSize int
	// SendTimeout bounds one message's send (one more second is allowed
	// per MiB) and the close of a stream.
	SendTimeout time.Duration
	// RetryDelay is the least time between the starts of two attempts after
	// a failed send (default 100 ms); it doubles with each further failure
	// up to MaxRetryDelay (default 1 s) and resets on a delivery.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// Clock times the retries; nil is the wall clock.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Transport implements raft.Transport over the RaftService.
type Transport struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	reporter raft.Reporter
	peers    map[uint64]*peer
	stopped  bool
	probing  atomic.Bool // a removal probe runs
	wg       sync.WaitGroup
}

var _ raft.Transport = (*Transport)(nil)

// New returns a Transport. The node calls Start, Send, SetPeers and Stop.
func New(opts Options) *Transport {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = DefaultSendTimeout
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.MaxRetryDelay <= 0 {
		opts.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Transport{opts: opts, log: opts.Logger, peers: map[uint64]*peer{}}
}

type outMsg struct {
	from   uint64
	typ    pb.MessageType
	data   []byte
	queued time.Time // when Send queued it
}

type peer struct {
	id     uint64
	addr   string
	client shoalv1connect.RaftServiceClient
	bulk   *lane // MsgApp and MsgSnap
	ctrl   *lane // everything else: heartbeats, votes, responses
	ctx    context.Context
	cancel context.CancelFunc
}

// lane is one of a peer's two queues, each with its own sender and
// stream. The log (MsgApp, MsgSnap: up to MaxSizePerMsg each, hundreds in
// flight) goes on the bulk lane; the small messages that keep a leader
// leader and answer votes go on the control lane, so a heartbeat never
// waits behind megabytes of entries being encrypted and written to a slow
// peer (issue 14: heartbeats queued for 0.4 s behind MsgApps). Raft needs
// no order between the two: a heartbeat's commit index is at most what
// the follower acknowledged, and etcd's own transport splits them alike.
type lane struct {
	name       string
	q          chan outMsg
	slowLogged time.Time // sender-owned: the last "slow message" warning
	// noDirectUntil is when the sender next tries the direct path after
	// the peer did not negotiate it (sender-owned).
	noDirectUntil time.Time
}

// bulkType reports whether a message of type t goes on the bulk lane.
func bulkType(t pb.MessageType) bool { return t == pb.MsgApp || t == pb.MsgSnap }

func (p *peer) laneFor(t pb.MessageType) *lane {
	if bulkType(t) {
		return p.bulk
	}
	return p.ctrl
}

// Start records the reporter.
func (t *Transport) Start(r raft.Reporter) {
	t.mu.Lock()
	t.reporter = r
	t.mu.Unlock()
}

// Send marshals each message on the caller's goroutine (so raft's entries
// are not read after Send returns) and queues it for its peer; a full queue
// drops the message.
func (t *Transport) Send(msgs []*pb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		isSnap := m.GetType() == pb.MsgSnap
		if p == nil || t.stopped {
			if isSnap && t.reporter != nil {
				t.reporter.ReportSnapshot(m.GetTo(), true)
			}
			continue
		}
		data, err := proto.Marshal(m)
		if err != nil {
			t.log.Error("transport: marshal", "err", err)
			continue
		}
		select {
		case p.laneFor(m.GetType()).q <- outMsg{from: m.GetFrom(), typ: m.GetType(), data: data, queued: t.opts.Clock.Now()}:
		default:
			t.log.Debug("transport: queue full, dropping", "to", m.GetTo(), "type", m.GetType().String())
			if isSnap && t.reporter != nil {
				t.reporter.ReportSnapshot(m.GetTo(), true)
			}
		}
	}
}

// SetPeers starts senders for new peers, stops those for removed peers and
// restarts those whose address changed.
func (t *Transport) SetPeers(peers map[uint64]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	for id, p := range t.peers {
		if addr, ok := peers[id]; !ok || addr != p.addr {
			p.cancel()
			delete(t.peers, id)
		}
	}
	for id, addr := range peers {
		if _, ok := t.peers[id]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		p := &peer{id: id, addr: addr, client: t.opts.Client(addr), ctx: ctx, cancel: cancel,
			bulk: &lane{name: "bulk", q: make(chan outMsg, t.opts.QueueSize)},
			ctrl: &lane{name: "control", q: make(chan outMsg, t.opts.QueueSize)}}
		t.peers[id] = p
		t.wg.Add(2)
		go t.runPeer(p, p.bulk)
		go t.runPeer(p, p.ctrl)
	}
}

// Stop stops every sender and waits for them.
func (t *Transport) Stop() {
	t.mu.Lock()
	t.stopped = true
	for id, p := range t.peers {
		p.cancel()
		delete(t.peers, id)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *Transport) report(f func(r raft.Reporter)) {
	t.mu.Lock()
	r := t.reporter
	t.mu.Unlock()
	if r != nil {
		f(r)
	}
}

// runPeer sends l's messages to p, one stream at a time.
func (t *Transport) runPeer(p *peer, l *lane) {
	defer t.wg.Done()
	failures := 0
	for {
		var first outMsg
		select {
		case <-p.ctx.Done():
			return
		case first = <-l.q:
		}
		start := t.opts.Clock.Now()
		snap, err := t.send(p, l, first)
		if err == nil {
			failures = 0
			if snap {
				t.reportSnapshot(p.id, false)
			}
			continue
		}
		if p.ctx.Err() != nil {
			return
		}
		// A stream that carried messages for a while before it broke
		// counts as a delivery: the backoff is for a peer that keeps
		// refusing, not for one whose long-lived stream ended once.
		if t.opts.Clock.Now().Sub(start) >= t.opts.MaxRetryDelay {
			failures = 0
		}
		failures++
		t.reportFailure(p, snap, err)
		wait := retryDelay(t.opts.RetryDelay, t.opts.MaxRetryDelay, failures) - t.opts.Clock.Now().Sub(start)
		select {
		case <-p.ctx.Done():
			return
		case <-t.opts.Clock.After(wait):
		}
	}
}

// send sends first and what follows it on the direct path when the peer
// speaks it, else on a Connect stream.
func (t *Transport) send(p *peer, l *lane, first outMsg) (snap bool, err error) {
	if t.opts.Dial == nil || first.typ == pb.MsgSnap || t.opts.Clock.Now().Before(l.noDirectUntil) {
		return t.stream(p, l, first)
	}
	snap, err = t.direct(p, l, first)
	if errors.Is(err, ErrNoDirect) {
		t.log.Info("transport: peer does not speak the direct protocol, using the Connect stream", "to", fmt.Sprintf("%x", p.id), "lane", l.name)
		l.noDirectUntil = t.opts.Clock.Now().Add(fallbackRecheck)
		return t.stream(p, l, first)
	}
	return snap, err
}

// streamIdle is how long a peer's stream stays open with nothing to send.
const streamIdle = 5 * time.Second

// errStalled ends a stream whose send or close took longer than allowed.
var errStalled = errors.New("transport: send stalled")

// stream sends first and then every message queued for p, each as soon as
// it is queued, on one client stream: no message waits for the answer to an
// earlier one, so the commit path costs one trip to the follower, not two.
// The stream ends when a send fails, when it has been idle for streamIdle,
// or right after a MsgSnap (whose outcome raft must be told, so the stream
// is closed and the peer's answer awaited; snap says one was sent). A single
// send (one more second per MiB) or the close taking over SendTimeout
// cancels the stream: a peer that stopped reading must not hold its queue
// forever. Cancellation ends the stream through its context; the peer's
// answer to the close (CloseAndReceive) says why a send failed.
func (t *Transport) stream(p *peer, l *lane, first outMsg) (snap bool, err error) {
	ctx, cancel := context.WithCancelCause(p.ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(time.Hour, func() { cancel(errStalled) })
	watchdog.Stop()
	defer watchdog.Stop()
	stream := p.client.StreamRaftMessage(ctx)
	finish := func(sendErr error) error {
		watchdog.Reset(t.opts.SendTimeout)
		_, err := stream.CloseAndReceive()
		watchdog.Stop()
		if err == nil {
			err = sendErr
		}
		if err != nil && errors.Is(context.Cause(ctx), errStalled) {
			err = fmt.Errorf("%w: %w", errStalled, err)
		}
		return err
	}
	idle := time.NewTimer(streamIdle)
	defer idle.Stop()
	m := first
	for {
		watchdog.Reset(t.opts.SendTimeout + time.Duration(len(m.data)>>20)*time.Second)
		sendStart := t.opts.Clock.Now()
		for _, c := range Split(m.from, m.data, t.opts.ChunkSize) {
			if err := stream.Send(c); err != nil {
				watchdog.Stop()
				return m.typ == pb.MsgSnap, finish(err)
			}
		}
		watchdog.Stop()
		t.noteSlow(p, l, m, sendStart)
		if m.typ == pb.MsgSnap {
			return true, finish(nil)
		}
		select {
		case m = <-l.q:
			continue
		default:
		}
		idle.Reset(streamIdle)
		select {
		case <-p.ctx.Done():
			return false, finish(p.ctx.Err())
		case <-idle.C:
			return false, finish(nil)
		case m = <-l.q:
			idle.Stop() // since Go 1.23 a stopped timer's channel holds no stale tick
		}
	}
}

// slowSend is the queue wait or send time from which a message is logged
// as slow (at most once a second per peer): a heartbeat that late
// brings its follower close to an election timeout.
const slowSend = 300 * time.Millisecond

func (t *Transport) noteSlow(p *peer, l *lane, m outMsg, sendStart time.Time) {
	now := t.opts.Clock.Now()
	wait, send := sendStart.Sub(m.queued), now.Sub(sendStart)
	if m.queued.IsZero() || (wait < slowSend && send < slowSend) || now.Sub(l.slowLogged) < time.Second {
		return
	}
	l.slowLogged = now
	t.log.Warn("transport: slow message", "to", fmt.Sprintf("%x", p.id), "lane", l.name, "type", m.typ.String(), "bytes", len(m.data),
		"queued_for", wait, "send_took", send, "queue_len", len(l.q))
}

// retryDelay is the least time from the start of a failed attempt to the
// next one after failures consecutive failures: base doubled per failure,
// capped at ceiling. An attempt that itself took that long (a dial timing
// out) is followed at once, so a healed peer is tried again within about
// max(ceiling, DefaultDialTimeout).
func retryDelay(base, ceiling time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

func (t *Transport) reportFailure(p *peer, snap bool, err error) {
	t.log.Debug("transport: send failed", "to", p.id, "addr", p.addr, "err", err)
	if isRemoved(err) {
		t.reportRemoved()
	}
	t.report(func(r raft.Reporter) { r.ReportUnreachable(p.id) })
	if snap {
		t.reportSnapshot(p.id, true)
	}
}

// reportSnapshot tells raft whether the MsgSnap sent to id arrived.
func (t *Transport) reportSnapshot(id uint64, failed bool) {
	t.report(func(r raft.Reporter) { r.ReportSnapshot(id, failed) })
}

// ProbeRemoved implements raft.RemovalProber: it asks every peer, at once
// and in the background, to resolve this member's own Raft ID; a peer that
// removed it answers with RemovedHeader (Handler.ResolveAddress), and the
// node is told. At most one probe runs at a time.
func (t *Transport) ProbeRemoved(self uint64) {
	if !t.probing.CompareAndSwap(false, true) {
		return
	}
	t.mu.Lock()
	clients := make([]shoalv1connect.RaftServiceClient, 0, len(t.peers))
	for _, p := range t.peers {
		clients = append(clients, p.client)
	}
	t.mu.Unlock()
	go func() {
		defer t.probing.Store(false)
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
				defer cancel()
				_, err := c.ResolveAddress(ctx, connect.NewRequest(&shoalv1.ResolveAddressRequest{RaftId: self}))
				if isRemoved(err) {
					t.reportRemoved()
				}
			})
		}
		wg.Wait()
	}()
}

// reportRemoved tells the node a peer says it was removed.
func (t *Transport) reportRemoved() {
	t.report(func(r raft.Reporter) {
		if rr, ok := r.(raft.RemovalReporter); ok {
			rr.ReportRemoved()
		}
	})
}

// probeTimeout bounds one removal probe of one peer.
const probeTimeout = 2 * time.Second

func isRemoved(err error) bool {
	var ce *connect.Error
	return errors.Is(err, errPeerRemovedUs) || (errors.As(err, &ce) && ce.Meta().Get(RemovedHeader) != "")
}
