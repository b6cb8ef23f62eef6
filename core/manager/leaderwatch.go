package manager

import (
	"context"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/clock"
)

// leaderView is the Raft leader as this manager sees it at one moment.
type leaderView struct {
	// id is the leader's Raft ID, 0 while this manager knows no leader.
	id   uint64
	addr string
	// self: this manager leads; it answers calls itself.
	self bool
}

func (v leaderView) known() bool { return v.id != 0 && (v.self || v.addr != "") }

// leaderSource hands out the current leader and a channel closed at the
// next change of it, so a call in flight to one leader can be cancelled as
// soon as this manager learns of another one (or loses the leader).
type leaderSource interface {
	current() (leaderView, <-chan struct{})
}

// leaderWatch is the leaderSource of a running manager: one goroutine polls
// the Raft node and publishes every change.
type leaderWatch struct {
	mu      sync.Mutex
	view    leaderView
	changed chan struct{}
}

func newLeaderWatch() *leaderWatch { return &leaderWatch{changed: make(chan struct{})} }

func (w *leaderWatch) current() (leaderView, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.view, w.changed
}

// set publishes v if it differs from the current view.
func (w *leaderWatch) set(v leaderView) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v == w.view {
		return
	}
	w.view = v
	close(w.changed)
	w.changed = make(chan struct{})
}

// leaderPollInterval is how often the watch reads the Raft node's leader: far
// below an election timeout (1-2 s), so a change reaches calls in flight
// within a tick.
const leaderPollInterval = 20 * time.Millisecond

// run publishes read() every interval until ctx ends.
func (w *leaderWatch) run(ctx context.Context, clk clock.Clock, interval time.Duration, read func() leaderView) {
	for {
		w.set(read())
		select {
		case <-ctx.Done():
			return
		case <-clk.After(interval):
		}
	}
}

// readLeader is the Raft node's leader as a leaderView.
func (m *Manager) readLeader() leaderView {
	rn := m.rn()
	if rn == nil {
		return leaderView{}
	}
	id, addr := rn.Leader()
	return leaderView{id: id, addr: addr, self: id != 0 && id == rn.ID()}
}

// watchLeader keeps m.leaders current until the manager stops.
func (m *Manager) watchLeader() {
	defer m.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stopped:
		case <-m.rn().Done():
		}
		cancel()
	}()
	m.leaders.run(ctx, clock.Real(), leaderPollInterval, m.readLeader)
}
