package raft_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoal-project/shoal/core/raft"
)

// chanNet delivers messages between in-process nodes, in order per
// destination, each on its own goroutine (as a real transport's streams).
type chanNet struct {
	mu    sync.Mutex
	nodes map[uint64]*raft.Node
	queue map[uint64]chan *pb.Message
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newChanNet() *chanNet {
	return &chanNet{nodes: map[uint64]*raft.Node{}, queue: map[uint64]chan *pb.Message{}, stop: make(chan struct{})}
}

func (c *chanNet) attach(n *raft.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[n.ID()] = n
	q := make(chan *pb.Message, 4096)
	c.queue[n.ID()] = q
	c.wg.Go(func() {
		for {
			select {
			case <-c.stop:
				return
			case m := <-q:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_ = n.Step(ctx, m)
				cancel()
			}
		}
	})
}

func (c *chanNet) close() { close(c.stop); c.wg.Wait() }

type chanEndpoint struct{ net *chanNet }

func (e chanEndpoint) Start(raft.Reporter)        {}
func (e chanEndpoint) SetPeers(map[uint64]string) {}
func (e chanEndpoint) Stop()                      {}
func (e chanEndpoint) Send(msgs []*pb.Message) {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	for _, m := range msgs {
		if q, ok := e.net.queue[m.GetTo()]; ok {
			select {
			case q <- m:
			default:
			}
		}
	}
}

// stallSM is a state machine whose Apply of the payload "stall" takes
// stall when armed: a leader applying one huge committed entry.
type stallSM struct {
	stall time.Duration
	armed atomic.Bool
}

func (s *stallSM) Apply(_ uint64, payload []byte) error {
	if string(payload) == "stall" && s.armed.Load() {
		time.Sleep(s.stall)
	}
	return nil
}
func (s *stallSM) Snapshot() ([]byte, error)    { return nil, nil }
func (s *stallSM) Restore(uint64, []byte) error { return nil }

// TestLeaderBusyApplyingKeepsLeading shows a leader whose loop spends
// 3.5 s applying one entry, while its followers idle with their clocks on
// time, stays leader: its busy beat heartbeats for it. Without it the
// followers hear nothing for longer than any randomized election timeout
// (10-19 ticks of 100 ms) and elect another leader (issue 14, 2,400 nodes
// x 100k tasks: one apply on the leader took 5.3 s); so they do when the
// beat stops after 2 election timeouts in an apply, as it does while
// persisting. Real tickers at the default interval: the margins (a
// follower needs a full second of silence) are wide for a loaded machine.
func TestLeaderBusyApplyingKeepsLeading(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds of wall time")
	}
	const stall = 3500 * time.Millisecond
	cn := newChanNet()
	t.Cleanup(cn.close)
	dir := t.TempDir()
	sms := map[uint64]*stallSM{}
	var nodes []*raft.Node
	cfg := func(name string, sm *stallSM) raft.Config {
		return raft.Config{NodeID: name, Addr: name + ":1", DataDir: filepath.Join(dir, name), StateMachine: sm, Transport: chanEndpoint{cn}}
	}
	sm1 := &stallSM{stall: stall}
	n1, err := raft.Bootstrap(cfg("m1", sm1))
	if err != nil {
		t.Fatal(err)
	}
	cn.attach(n1)
	nodes = append(nodes, n1)
	sms[n1.ID()] = sm1
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Stop()
		}
	})
	waitFor(t, "a first leader", func() bool { return n1.Status().IsLeader })
	for _, name := range []string{"m2", "m3"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		id, members, err := n1.AddMember(ctx, name, name+":1")
		cancel()
		if err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
		sm := &stallSM{stall: stall}
		n, err := raft.Join(cfg(name, sm), id, members, nil)
		if err != nil {
			t.Fatalf("join %s: %v", name, err)
		}
		cn.attach(n)
		nodes = append(nodes, n)
		sms[id] = sm
		waitFor(t, name+" a voter", func() bool {
			for _, m := range n1.Members() {
				if m.RaftID == id {
					return !m.Learner
				}
			}
			return false
		})
	}
	leader := n1
	term := leader.Status().Term
	sms[leader.ID()].armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := leader.Propose(ctx, []byte("stall")); err != nil {
		t.Fatalf("propose: %v", err)
	}
	// Propose returns once the leader applied it; give the followers
	// longer than any election timeout to elect if they are going to.
	time.Sleep(2 * time.Second)
	for _, n := range nodes {
		st := n.Status()
		if st.Term != term || st.Leader != leader.ID() {
			t.Fatalf("%s: term %d leader %x after the leader's long apply; want term %d leader %x", st.NodeID, st.Term, st.Leader, term, leader.ID())
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 60s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
