package gossip

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-project/shoal/internal/clock"
)

// Errors.
var (
	// ErrClosed is returned by the methods of a closed Member.
	ErrClosed = errors.New("gossip: member closed")
	// ErrJoin is wrapped by Join when no peer could be reached.
	ErrJoin = errors.New("gossip: join failed")
)

// Member is this node in the gossip cluster: its memberlist membership and
// its copy of the cluster's attachment table. One goroutine (run) owns the
// table; the API and memberlist's callbacks hand it closures.
type Member struct {
	log          *slog.Logger
	list         *memberlist.Memberlist
	keyring      *memberlist.Keyring
	keysMu       sync.Mutex
	queue        *memberlist.TransmitLimitedQueue
	alive        atomic.Int32 // members alive, self included, counted from join/leave events
	leaveTimeout time.Duration
	liveness     func(nodeID string, dead bool) // Config.Liveness, may be nil
	leaving      atomic.Bool                    // advertised in the node's metadata (delegate.NodeMeta)

	reqs      chan func()
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closeErr  error

	// Owned by run.
	table    *table
	watchers []*watcher
}

// New starts a member listening on cfg.BindAddr. It knows no peer until
// Join.
func New(cfg Config) (*Member, error) {
	mc, keyring, err := cfg.memberlistConfig()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real()
	}
	m := &Member{
		log:          log,
		keyring:      keyring,
		leaveTimeout: cmp.Or(cfg.Timing.LeaveTimeout, DefaultLeaveTimeout),
		liveness:     cfg.Liveness,
		reqs:         make(chan func()),
		quit:         make(chan struct{}),
		stopped:      make(chan struct{}),
		table:        newTable(cfg.NodeID, uint64(clk.Now().UnixNano())),
	}
	m.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(m.alive.Load()) },
		RetransmitMult: mc.RetransmitMult,
	}
	mc.Delegate = (*delegate)(m)
	mc.Events = (*events)(m)
	mc.Logger = newLogBridge(log)
	go m.run()
	if m.list, err = memberlist.Create(mc); err != nil {
		close(m.quit)
		return nil, fmt.Errorf("gossip: listen on %s:%d: %w", mc.BindAddr, mc.BindPort, err)
	}
	underlay := cfg.UnderlayAddr
	if !underlay.IsValid() {
		underlay, _ = netip.AddrFromSlice(m.list.LocalNode().Addr)
		underlay = underlay.Unmap()
	}
	_ = m.do(func() { m.table.selfAddr = underlay })
	return m, nil
}

// Addr is the ip:port peers join this member at.
func (m *Member) Addr() string { return m.list.LocalNode().Address() }

// NumMembers is the number of members this one believes alive, itself
// included.
func (m *Member) NumMembers() int { return m.list.NumMembers() }

// Join contacts peers (ip:port) and exchanges full state with each one
// reached; it fails only when none was. An empty list starts a cluster.
func (m *Member) Join(peers []string) error {
	if len(peers) == 0 {
		return nil
	}
	n, err := m.list.Join(peers)
	if n == 0 {
		if err == nil {
			err = errors.New("no peer answered")
		}
		return fmt.Errorf("%w: reached none of %v (check the address and that both sides hold the same gossip key): %w", ErrJoin, peers, err)
	}
	if err != nil {
		m.log.Warn("gossip: some peers were not reached", "joined", n, "err", err)
	}
	return nil
}

// Publish announces an attachment of a task running on this node (or
// replaces the one with the same network and task).
func (m *Member) Publish(a Attachment) error {
	if err := a.validate(); err != nil {
		return err
	}
	a.MAC = append(a.MAC[:0:0], a.MAC...)
	return m.do(func() {
		delta, changes := m.table.publish(a)
		m.broadcast(delta)
		m.notify(changes)
	})
}

// Withdraw removes every attachment of a task of this node.
func (m *Member) Withdraw(taskID string) error {
	return m.do(func() {
		deltas, changes := m.table.withdraw(taskID)
		for _, d := range deltas {
			m.broadcast(d)
		}
		m.notify(changes)
	})
}

// Snapshot lists every attachment known, this node's included, sorted by
// network, task and node.
func (m *Member) Snapshot() ([]Entry, error) {
	var out []Entry
	err := m.do(func() { out = m.table.entries() })
	return out, err
}

// Close leaves the cluster (peers drop this node's entries at once instead
// of after failure detection) and stops the member.
func (m *Member) Close() error { return m.shutdown(true) }

func (m *Member) shutdown(leave bool) error {
	m.closeOnce.Do(func() {
		if leave {
			// Say it is a leave first (peers then do not report a death),
			// then leave.
			m.leaving.Store(true)
			if err := m.list.UpdateNode(m.leaveTimeout / 2); err != nil {
				m.log.Debug("gossip: advertise the leave", "err", err)
			}
			if err := m.list.Leave(m.leaveTimeout); err != nil {
				m.closeErr = fmt.Errorf("gossip: leave: %w", err)
			}
		}
		if err := m.list.Shutdown(); err != nil {
			m.closeErr = errors.Join(m.closeErr, fmt.Errorf("gossip: shutdown: %w", err))
		}
		close(m.quit)
		<-m.stopped
	})
	return m.closeErr
}

// run owns the table and the watchers.
func (m *Member) run() {
	defer close(m.stopped)
	for {
		select {
		case fn := <-m.reqs:
			fn()
		case <-m.quit:
			return
		}
	}
}

// send hands fn to the loop without waiting for it to run.
func (m *Member) send(fn func()) bool {
	select {
	case m.reqs <- fn:
		return true
	case <-m.stopped:
		return false
	}
}

// do runs fn on the loop and waits for it.
func (m *Member) do(fn func()) error {
	done := make(chan struct{})
	if !m.send(func() { fn(); close(done) }) {
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-m.stopped:
		return ErrClosed
	}
}

// mergeRemote applies a peer's message; relay re-gossips what was news,
// so that a change spreads epidemically rather than only as far as its
// origin's retransmissions reach.
func (m *Member) mergeRemote(b []byte, relay bool) {
	states, err := decode(b)
	if err != nil {
		m.log.Warn("gossip: dropped a malformed message", "err", err)
		return
	}
	for _, ns := range states {
		news, changes := m.table.merge(ns)
		m.notify(changes)
		if !relay {
			continue
		}
		for _, r := range news {
			m.broadcast(&nodeState{node: ns.node, addr: ns.addr, records: []record{r}})
		}
	}
}

func (m *Member) broadcast(ns *nodeState) {
	if ns == nil {
		return
	}
	b := &broadcast{
		key: broadcastKey{ns.node, ns.records[0].att.key()},
		msg: encode([]nodeState{*ns}),
	}
	m.queue.QueueBroadcast(b)
}

// broadcast is one delta in the transmit queue. A newer delta for the same
// attachment replaces an older one still queued.
type broadcast struct {
	key broadcastKey
	msg []byte
}

type broadcastKey struct {
	node string
	att  key
}

func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*broadcast)
	return ok && ob.key == b.key
}
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}
