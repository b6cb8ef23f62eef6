package rafttest

import (
	"context"
	"errors"
	"math/rand/v2"
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

// Network is an in-memory, fault-injecting network between nodes. Messages
// on a link are delivered in order by one goroutine per link, after being
// marshalled, split into chunks of ChunkSize and reassembled.
type Network struct {
	chunkSize int

	mu       sync.Mutex
	rnd      *rand.Rand
	nodes    map[uint64]Stepper
	cut      map[[2]uint64]bool
	dropRate float64
	delay    time.Duration
	links    map[[2]uint64]*link
	closed   bool
	wg       sync.WaitGroup
	// Stats
	delivered, dropped int
}

type link struct {
	q    chan delivery
	stop chan struct{}
}

type delivery struct {
	typ  pb.MessageType
	from uint64
	to   uint64
	data []byte
	rep  raft.Reporter
}

// NewNetwork returns a network that splits messages into chunks of
// chunkSize bytes; seed drives the random drops.
func NewNetwork(chunkSize int, seed uint64) *Network {
	return &Network{
		chunkSize: chunkSize,
		rnd:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes:     map[uint64]Stepper{},
		cut:       map[[2]uint64]bool{},
		links:     map[[2]uint64]*link{},
	}
}

// Attach makes id reachable.
func (nw *Network) Attach(id uint64, s Stepper) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.nodes[id] = s
}

// Detach makes id unreachable (its messages are dropped).
func (nw *Network) Detach(id uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	delete(nw.nodes, id)
}

// Cut drops every message from a to b (one direction).
func (nw *Network) Cut(a, b uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut[[2]uint64{a, b}] = true
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
	nw.delay = 0
}

// SetDropRate drops each message with probability p.
func (nw *Network) SetDropRate(p float64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.dropRate = p
}

// SetDelay delays every delivery by d.
func (nw *Network) SetDelay(d time.Duration) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.delay = d
}

// Stats returns delivered and dropped message counts.
func (nw *Network) Stats() (delivered, dropped int) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.delivered, nw.dropped
}

// Close stops all link goroutines.
func (nw *Network) Close() {
	nw.mu.Lock()
	nw.closed = true
	for _, l := range nw.links {
		close(l.stop)
	}
	nw.links = map[[2]uint64]*link{}
	nw.mu.Unlock()
	nw.wg.Wait()
}

// Transport returns the endpoint for the node with Raft ID id.
func (nw *Network) Transport(id uint64) raft.Transport { return &endpoint{nw: nw, id: id} }

// passes reports whether a message from a to b gets through now.
func (nw *Network) passes(a, b uint64) bool {
	if nw.cut[[2]uint64{a, b}] {
		return false
	}
	if _, ok := nw.nodes[b]; !ok {
		return false
	}
	return nw.dropRate == 0 || nw.rnd.Float64() >= nw.dropRate
}

func (nw *Network) send(d delivery) {
	nw.mu.Lock()
	if nw.closed {
		nw.mu.Unlock()
		return
	}
	if !nw.passes(d.from, d.to) {
		nw.dropped++
		nw.mu.Unlock()
		failed(d)
		return
	}
	key := [2]uint64{d.from, d.to}
	l := nw.links[key]
	if l == nil {
		l = &link{q: make(chan delivery, 4096), stop: make(chan struct{})}
		nw.links[key] = l
		nw.wg.Add(1)
		go nw.runLink(l)
	}
	nw.mu.Unlock()
	select {
	case l.q <- d:
	default:
		failed(d)
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

func (nw *Network) runLink(l *link) {
	defer nw.wg.Done()
	for {
		var d delivery
		select {
		case <-l.stop:
			return
		case d = <-l.q:
		}
		nw.mu.Lock()
		delay := nw.delay
		nw.mu.Unlock()
		if delay > 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(delay):
			}
		}
		nw.deliver(d)
	}
}

func (nw *Network) deliver(d delivery) {
	re := transport.NewReassembler(transport.DefaultMaxMessageSize)
	var data []byte
	for _, c := range transport.Split(d.from, d.data, nw.chunkSize) {
		msg, done, err := re.Add(c)
		if err != nil {
			failed(d)
			return
		}
		if done {
			data = msg
		}
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(data, m); err != nil {
		failed(d)
		return
	}
	nw.mu.Lock()
	target, ok := nw.nodes[d.to]
	pass := ok && !nw.cut[[2]uint64{d.from, d.to}]
	if pass {
		nw.delivered++
	} else {
		nw.dropped++
	}
	nw.mu.Unlock()
	if !pass {
		failed(d)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := target.Step(ctx, m)
	cancel()
	if errors.Is(err, raft.ErrRemovedMember) {
		if rr, ok := d.rep.(raft.RemovalReporter); ok {
			rr.ReportRemoved()
		}
	}
	if err != nil {
		failed(d)
		return
	}
	if d.typ == pb.MsgSnap && d.rep != nil {
		d.rep.ReportSnapshot(d.to, false)
	}
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
	for _, m := range msgs {
		data, err := proto.Marshal(m)
		if err != nil {
			continue
		}
		e.nw.send(delivery{typ: m.GetType(), from: e.id, to: m.GetTo(), data: data, rep: rep})
	}
}

func (e *endpoint) SetPeers(map[uint64]string) {}

func (e *endpoint) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
}
