package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"github.com/shoal-project/shoal/gen/shoal/v1/shoalv1connect"

	"github.com/shoal-project/shoal/core/store"
)

// Sentinel errors.
var (
	// ErrNotRunning: the dispatcher's Run is not active (not leading).
	ErrNotRunning = errors.New("dispatcher: not running on this manager (not the leader?)")
	// ErrAlreadyRunning: Run was called while another Run is active.
	ErrAlreadyRunning = errors.New("dispatcher: already running")
	// ErrNoNodesConnected: none of the nodes named in a log subscription has a session.
	ErrNoNodesConnected = errors.New("dispatcher: none of the nodes is connected")
)

// Dispatcher implements shoalv1connect.DispatcherServiceHandler.
type Dispatcher struct {
	store *store.Store
	cfg   Config
	log   *slog.Logger

	flushNow chan struct{} // cap 1
	scanNow  chan struct{} // cap 1
	flushTik chan struct{} // cap 1

	// mu guards everything below. It is never held across a store write or
	// a network send.
	mu       sync.Mutex
	running  bool
	nodes    map[string]*nodeEntry // by node ID
	peers    peerIndex             // gossip addresses and tunnels of nodes with a session
	sessions map[string]*session   // by session ID
	subs     map[string]*logSub    // by subscription ID
	pending  pendingWrites
	period   time.Duration // heartbeat period agents are told; the cluster spec's once Run reads it
	// gossipKeys are the cluster's gossip keys, primary first (gossip.go).
	gossipKeys [][]byte
	// gossipDead holds the nodes the gossip layer declared dead
	// (liveness.go); kept across Run calls.
	gossipDead map[string]bool
	// guard rate-limits DOWN marking while many nodes fail at once
	// (disruption.go); stats is its view at the last scan.
	guard guard
	stats DisruptionStats

	// mesh wakes the assignment streams when services change (mesh.go).
	mesh broadcast
}

var _ shoalv1connect.DispatcherServiceHandler = (*Dispatcher)(nil)

// nodeEntry is a node this leader expects heartbeats from: one with a
// session, or one that was READY when this manager became leader and has
// until deadline to open a session.
type nodeEntry struct {
	sess       *session
	held       bool // expired, but left READY by the disruption guard
	deadline   time.Time
	lastBeat   time.Time // session opened, last heartbeat, or Run's start for an awaited node
	gossipAddr string    // from the session's node description
	wg         wgPeer    // the node's tunnel, from the description and heartbeats
}

// session is one node's session.
type session struct {
	id     string
	nodeID string
	done   chan struct{} // closed when the session ends
	once   sync.Once

	mu     sync.Mutex
	subs   []*shoalv1.LogSubscription // to push down the session stream
	notify chan struct{}              // cap 1
}

func (s *session) close() { s.once.Do(func() { close(s.done) }) }

func (s *session) pushSub(sub *shoalv1.LogSubscription) {
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *session) takeSubs() []*shoalv1.LogSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.subs
	s.subs = nil
	return out
}

// New returns a dispatcher writing to st. logger may be nil.
func New(st *store.Store, cfg Config, logger *slog.Logger) (*Dispatcher, error) {
	if st == nil {
		return nil, errors.New("dispatcher: nil store")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{
		store:      st,
		cfg:        cfg,
		log:        logger,
		flushNow:   make(chan struct{}, 1),
		scanNow:    make(chan struct{}, 1),
		flushTik:   make(chan struct{}, 1),
		nodes:      make(map[string]*nodeEntry),
		peers:      newPeerIndex(),
		sessions:   make(map[string]*session),
		subs:       make(map[string]*logSub),
		gossipDead: make(map[string]bool),
		guard:      guard{downAt: make(map[string]time.Time)},
		pending:    newPendingWrites(),
		period:     cfg.HeartbeatPeriod,
	}, nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// scanInterval is how often sessions are checked for expiry.
func (d *Dispatcher) scanInterval() time.Duration {
	iv := d.heartbeatPeriod() / 5
	if iv <= 0 {
		iv = time.Millisecond
	}
	return iv
}

// Run serves sessions while ctx lives; call it while this manager leads and
// cancel ctx when leadership is lost. It expires sessions whose heartbeats
// stopped (marking their nodes DOWN) and flushes queued status writes. When
// it returns every session has ended and queued writes were flushed (or
// dropped if the store refused them).
func (d *Dispatcher) Run(ctx context.Context) error {
	now := d.cfg.Clock.Now()
	var ready []string
	err := d.store.View(func(tx store.ReadTx) error {
		return tx.Range(store.KindNode, store.All(), func(o store.Object) bool {
			if o.(*shoalv1.Node).GetStatus().GetState() == shoalv1.NodeState_NODE_STATE_READY {
				ready = append(ready, o.GetId())
			}
			return true
		})
	})
	if err != nil {
		return err
	}
	// The gossip keys (made now if the cluster has none) and the spec are
	// in hand before the first session opens: every session's first
	// message carries the keys.
	keysEvery := d.ensureGossipKeys(ctx)
	specs, cancelSpecs, err := d.watchClusterSpec()
	if err != nil {
		return err
	}
	defer cancelSpecs()
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return ErrAlreadyRunning
	}
	d.running = true
	for _, id := range ready {
		if _, ok := d.nodes[id]; !ok {
			d.nodes[id] = &nodeEntry{deadline: now.Add(d.cfg.ReconnectGrace), lastBeat: now}
		}
	}
	d.mu.Unlock()
	d.log.Info("dispatcher running", "nodes_awaited", len(ready))

	svcCtx, stopSvc := context.WithCancel(ctx)
	defer stopSvc()
	go d.watchServices(svcCtx)
	keysNow := make(chan struct{}, 1)
	keysT := d.cfg.Clock.AfterFunc(keysEvery, func() { signal(keysNow) })
	defer func() { keysT.Stop() }()
	scanT := d.cfg.Clock.AfterFunc(d.scanInterval(), func() { signal(d.scanNow) })
	flushT := d.cfg.Clock.AfterFunc(d.cfg.StatusFlushInterval, func() { signal(d.flushTik) })
	defer func() {
		scanT.Stop()
		flushT.Stop()
	}()
	for {
		select {
		case <-ctx.Done():
			d.stop()
			return nil
		case ev, ok := <-specs:
			if !ok || ev.Kind == store.EventResync {
				d.log.Warn("cluster spec watch ended; the heartbeat period stays", "period", d.heartbeatPeriod(), "err", ev.Err)
				specs = nil
				continue
			}
			if c, ok := ev.Object.(*shoalv1.Cluster); ok {
				d.applyClusterSpec(c.GetSpec())
				d.applyGossipKeys(c.GetGossipKeys())
			}
		case <-keysNow:
			next := d.ensureGossipKeys(ctx)
			keysT = d.cfg.Clock.AfterFunc(next, func() { signal(keysNow) })
		case <-d.scanNow:
			scanT.Stop() // scanNow also comes from GossipVerdict: keep one timer
			d.scan(d.cfg.Clock.Now())
			scanT = d.cfg.Clock.AfterFunc(d.scanInterval(), func() { signal(d.scanNow) })
		case <-d.flushTik:
			d.flush(ctx)
			flushT = d.cfg.Clock.AfterFunc(d.cfg.StatusFlushInterval, func() { signal(d.flushTik) })
		case <-d.flushNow:
			d.flush(ctx)
		}
	}
}

// stop ends every session and subscription and makes a last flush.
func (d *Dispatcher) stop() {
	d.mu.Lock()
	d.running = false
	for _, s := range d.sessions {
		s.close()
	}
	d.sessions = make(map[string]*session)
	d.nodes = make(map[string]*nodeEntry)
	d.peers = newPeerIndex()
	d.guard = guard{downAt: make(map[string]time.Time)}
	subs := d.subs
	d.subs = make(map[string]*logSub)
	d.mu.Unlock()
	for _, sub := range subs {
		sub.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.flush(ctx)
	d.log.Info("dispatcher stopped")
}

// scan expires the sessions (and awaited nodes) whose deadline passed, or
// that the gossip layer declared dead and whose heartbeat is overdue.
func (d *Dispatcher) scan(now time.Time) {
	var expired []string
	d.mu.Lock()
	wasHeld := make(map[string]bool)
	for id, e := range d.nodes {
		if e.held {
			wasHeld[id] = true
		}
		e.held = false
		if d.expiredLocked(id, e, now) != "" {
			expired = append(expired, id)
		}
	}
	admitted := d.admitDownsLocked(expired, now)
	slices.Sort(admitted)
	for _, id := range admitted {
		d.expireLocked(id, now)
	}
	newlyHeld := 0
	for _, id := range expired {
		if e := d.nodes[id]; e != nil {
			e.held = true
			if !wasHeld[id] {
				newlyHeld++
			}
		}
	}
	if newlyHeld > 0 && d.cfg.DownsHeld != nil {
		d.cfg.DownsHeld(newlyHeld)
	}
	d.mu.Unlock()
}

// expireLocked ends the node's session and queues it DOWN. d.mu is held.
func (d *Dispatcher) expireLocked(nodeID string, now time.Time) {
	e := d.nodes[nodeID]
	if e == nil {
		return
	}
	delete(d.nodes, nodeID)
	d.peers.remove(nodeID)
	d.guard.downAt[nodeID] = now
	if e.wg.valid() {
		d.signalOthersLocked(nodeID) // its tunnel leaves the peers
	}
	msg := "heartbeat failure"
	if d.expiredLocked(nodeID, e, now) == expiredByGossip {
		msg = expiredByGossip
	}
	if e.sess != nil {
		delete(d.sessions, e.sess.id)
		e.sess.close()
		d.nodeGoneLocked(nodeID)
	} else {
		msg = "node did not reconnect after a leader change"
	}
	d.log.Info("node down", "node", nodeID, "reason", msg)
	if d.cfg.NodeDown != nil {
		d.cfg.NodeDown(e.sess == nil)
	}
	d.queueNodeLocked(nodeID, nodeUpdate{state: shoalv1.NodeState_NODE_STATE_DOWN, message: msg, at: now})
}

func (d *Dispatcher) isRunning() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running
}

// SessionCount returns how many sessions are open (for tests and metrics).
func (d *Dispatcher) SessionCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.sessions)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on Linux
	return hex.EncodeToString(b[:])
}
