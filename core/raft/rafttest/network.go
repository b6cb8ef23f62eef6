package rafttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-project/shoal/core/raft"
	"github.com/shoal-project/shoal/core/raft/transport"
)

// Stepper receives messages; *raft.Node implements it.
type Stepper interface {
	Step(ctx context.Context, m *pb.Message) error
}

// quiescer is a node the network can wait on after handing it an input.
type quiescer interface {
	Quiesce(ctx context.Context) (raft.Quiescent, error)
}

// stepTimeout bounds how long (wall clock) the network waits for a node to
// take one input: a safety net against a hung node, never a timing choice.
const stepTimeout = 30 * time.Second

// Network is an in-memory, fault-injecting network between nodes. Sent
// messages wait in one queue; nothing moves until the harness calls
// DeliverOne, which picks the next message with the network's seeded
// random source (keeping each link in order), so a seed replays the same
// deliveries. Drops and delays are drawn from the same source when the
// message is sent. Every delivered message goes through the real chunking
// code.
type Network struct {
	chunkSize int

	mu         sync.Mutex
	rnd        *rand.Rand
	nodes      map[uint64]Stepper
	cut        map[[2]uint64]bool
	dropRate   float64
	delayTicks int
	delayExact bool   // delayTicks exactly, not 0..delayTicks
	now        uint64 // tick rounds taken (Advance)
	queue      []inflight
	wake       chan struct{}
	closed     bool
	trace      *trace
	onSend     func(from uint64, m *pb.Message)
	// Stats
	delivered, dropped int
}

type inflight struct {
	delivery
	due uint64 // the tick round from which it may be delivered
}

type delivery struct {
	typ  pb.MessageType
	from uint64
	to   uint64
	data []byte
	rep  raft.Reporter
	meta string // type, term, index and commit, for the trace
}

// NewNetwork returns a network that splits messages into chunks of
// chunkSize bytes; seed drives drops, delays and the delivery order.
func NewNetwork(chunkSize int, seed uint64) *Network {
	return &Network{
		chunkSize: chunkSize,
		rnd:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes:     map[uint64]Stepper{},
		cut:       map[[2]uint64]bool{},
		wake:      make(chan struct{}, 1),
		trace:     &trace{},
	}
}

// Attach makes id reachable.
func (nw *Network) Attach(id uint64, s Stepper) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.nodes[id] = s
}

// Detach makes id unreachable (messages to it are dropped).
func (nw *Network) Detach(id uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	delete(nw.nodes, id)
}

// Cut drops every message from a to b (one direction), queued ones included.
func (nw *Network) Cut(a, b uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut[[2]uint64{a, b}] = true
}

// CollapseTo drops all but the newest queued message on every link to
// `to`, as a network that lost them (which Raft tolerates): the newest
// append response of a follower acknowledges everything the older ones
// did, so the leader learns of many commits at once.
func (nw *Network) CollapseTo(to uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	newest := map[uint64]int{}
	for i, d := range nw.queue {
		if d.to == to {
			newest[d.from] = i
		}
	}
	kept := nw.queue[:0]
	for i, d := range nw.queue {
		if d.to != to || newest[d.from] == i {
			kept = append(kept, d)
		} else {
			nw.dropped++
			nw.trace.add("drop", d.delivery)
		}
	}
	nw.queue = kept
}

// Partition cuts every link between the two groups, both ways.
func (nw *Network) Partition(g1, g2 []uint64) {
	for _, a := range g1 {
		for _, b := range g2 {
			nw.Cut(a, b)
			nw.Cut(b, a)
		}
	}
}

// Heal removes every cut, drop rate and delay.
func (nw *Network) Heal() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut = map[[2]uint64]bool{}
	nw.dropRate = 0
	nw.delayTicks = 0
	nw.delayExact = false
}

// SetDropRate drops each message with probability p.
func (nw *Network) SetDropRate(p float64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.dropRate = p
}

// SetDelay holds each message sent from now on for a random 0..ticks tick
// rounds (a link stays in order: a held message holds those behind it).
func (nw *Network) SetDelay(ticks int) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.delayTicks = ticks
	nw.delayExact = false
}

// SetExactDelay holds each message sent from now on for exactly ticks tick
// rounds, as a process too starved to read its sockets would.
func (nw *Network) SetExactDelay(ticks int) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.delayTicks = ticks
	nw.delayExact = true
}

// OnSend makes every member call f with each message it sends, in its own
// goroutine, at the moment it hands the message to the network (before any
// drop, delay or delivery): a test sees what the sender had done by then.
// f must not keep m.
func (nw *Network) OnSend(f func(from uint64, m *pb.Message)) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.onSend = f
}

// Stats returns delivered and dropped message counts.
func (nw *Network) Stats() (delivered, dropped int) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.delivered, nw.dropped
}

// Close drops everything in flight; later sends are ignored.
func (nw *Network) Close() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.closed = true
	nw.queue = nil
}

// Transport returns the endpoint for the node with Raft ID id.
func (nw *Network) Transport(id uint64) raft.Transport { return &endpoint{nw: nw, id: id} }

// Wake receives a value when a message was queued since the last receive.
func (nw *Network) Wake() <-chan struct{} { return nw.wake }

// Advance counts one tick round (delayed messages become due).
func (nw *Network) Advance() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.now++
}

// IntN draws from [0, n) with the network's seeded source: the harness
// takes every random choice from it, so one seed drives a whole run.
func (nw *Network) IntN(n int) int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.rnd.IntN(n)
}

// Perm draws a permutation of [0, n) with the network's seeded source.
func (nw *Network) Perm(n int) []int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.rnd.Perm(n)
}

// Deliverable reports whether some queued message is due.
func (nw *Network) Deliverable() bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return len(nw.due()) > 0
}

// due returns the queue positions of the messages that may go next: due,
// and first on their link.
func (nw *Network) due() []int {
	var out []int
	var seen [][2]uint64
	for i, d := range nw.queue {
		link := [2]uint64{d.from, d.to}
		if slices.Contains(seen, link) {
			continue
		}
		seen = append(seen, link)
		if d.due <= nw.now {
			out = append(out, i)
		}
	}
	return out
}

// passes reports whether a message from a to b gets through now.
func (nw *Network) passes(a, b uint64) bool {
	if nw.cut[[2]uint64{a, b}] {
		return false
	}
	_, ok := nw.nodes[b]
	return ok
}

func (nw *Network) send(d delivery) {
	nw.mu.Lock()
	if nw.closed {
		nw.mu.Unlock()
		return
	}
	if !nw.passes(d.from, d.to) || (nw.dropRate > 0 && nw.rnd.Float64() < nw.dropRate) {
		nw.dropped++
		nw.trace.add("drop", d)
		nw.mu.Unlock()
		failed(d)
		return
	}
	due := nw.now
	switch {
	case nw.delayExact:
		due += uint64(nw.delayTicks)
	case nw.delayTicks > 0:
		due += uint64(nw.rnd.IntN(nw.delayTicks + 1))
	}
	nw.queue = append(nw.queue, inflight{delivery: d, due: due})
	nw.mu.Unlock()
	select {
	case nw.wake <- struct{}{}:
	default:
	}
}

func failed(d delivery) {
	if d.rep == nil {
		return
	}
	d.rep.ReportUnreachable(d.to)
	if d.typ == pb.MsgSnap {
		d.rep.ReportSnapshot(d.to, true)
	}
}

// DeliverOne delivers one due message, picked with the seeded source, and
// waits until its receiver (and, when it failed, its sender) has handled
// it. It returns false when no message is due.
func (nw *Network) DeliverOne() bool {
	nw.mu.Lock()
	due := nw.due()
	if len(due) == 0 {
		nw.mu.Unlock()
		return false
	}
	i := due[nw.rnd.IntN(len(due))]
	d := nw.queue[i].delivery
	nw.queue = slices.Delete(nw.queue, i, i+1)
	nw.mu.Unlock()
	if err := nw.deliver(d); err != nil {
		failed(d)
		quiesce(d.rep)
	}
	return true
}

// DeliverExcept delivers the due messages not addressed to busy, and those
// that become due meanwhile, one at a time in the seeded order, until none
// is left; it returns how many it delivered. The messages to busy stay
// queued: a test calls it from busy's own goroutine (KV.OnApply), where
// busy cannot take a message.
func (nw *Network) DeliverExcept(busy uint64) int {
	delivered := 0
	for {
		nw.mu.Lock()
		due := slices.DeleteFunc(nw.due(), func(i int) bool { return nw.queue[i].to == busy })
		if len(due) == 0 {
			nw.mu.Unlock()
			return delivered
		}
		i := due[nw.rnd.IntN(len(due))]
		d := nw.queue[i].delivery
		nw.queue = slices.Delete(nw.queue, i, i+1)
		nw.mu.Unlock()
		delivered++
		if err := nw.deliver(d); err != nil && d.from != busy {
			failed(d)
			quiesce(d.rep)
		}
	}
}

// deliver hands d to its receiver and waits until the receiver handled it.
func (nw *Network) deliver(d delivery) error {
	m, err := nw.reassemble(d)
	if err != nil {
		return err
	}
	nw.mu.Lock()
	target, ok := nw.nodes[d.to]
	pass := ok && !nw.cut[[2]uint64{d.from, d.to}]
	if pass {
		nw.delivered++
		nw.trace.add("deliver", d)
	} else {
		nw.dropped++
		nw.trace.add("drop", d)
	}
	nw.mu.Unlock()
	if !pass {
		return errors.New("rafttest: link cut or receiver gone")
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	err = target.Step(ctx, m)
	quiesce(target)
	if errors.Is(err, raft.ErrRemovedMember) {
		if rr, ok := d.rep.(raft.RemovalReporter); ok {
			rr.ReportRemoved()
		}
	}
	if err != nil {
		return err
	}
	if d.typ == pb.MsgSnap && d.rep != nil {
		d.rep.ReportSnapshot(d.to, false)
		quiesce(d.rep)
	}
	return nil
}

// reassemble sends d's bytes through the transport's chunking code.
func (nw *Network) reassemble(d delivery) (*pb.Message, error) {
	re := transport.NewReassembler(transport.DefaultMaxMessageSize)
	var data []byte
	for _, c := range transport.Split(d.from, d.data, nw.chunkSize) {
		msg, done, err := re.Add(c)
		if err != nil {
			return nil, err
		}
		if done {
			data = msg
		}
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, err
	}
	return m, nil
}

// quiesce waits until v, when it is a node, has handled its queued input.
func quiesce(v any) {
	q, ok := v.(quiescer)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	_, _ = q.Quiesce(ctx)
}

type endpoint struct {
	nw *Network
	id uint64

	mu      sync.Mutex
	rep     raft.Reporter
	stopped bool
}

func (e *endpoint) Start(r raft.Reporter) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rep = r
}

func (e *endpoint) Send(msgs []*pb.Message) {
	e.mu.Lock()
	rep, stopped := e.rep, e.stopped
	e.mu.Unlock()
	if stopped {
		return
	}
	e.nw.mu.Lock()
	onSend := e.nw.onSend
	e.nw.mu.Unlock()
	for _, m := range msgs {
		if onSend != nil {
			onSend(e.id, m)
		}
		data, err := proto.Marshal(m)
		if err != nil {
			continue
		}
		meta := fmt.Sprintf("%s t%d i%d c%d", m.GetType(), m.GetTerm(), m.GetIndex(), m.GetCommit())
		e.nw.send(delivery{typ: m.GetType(), from: e.id, to: m.GetTo(), data: data, rep: rep, meta: meta})
	}
}

func (e *endpoint) SetPeers(map[uint64]string) {}

func (e *endpoint) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
}
