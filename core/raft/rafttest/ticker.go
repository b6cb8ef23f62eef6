package rafttest

import (
	"runtime"
	"sync"
	"time"
)

// ManualTicker is a raft.Ticker that ticks only when Tick (or Post) is
// called.
type ManualTicker struct {
	c    chan time.Time
	stop chan struct{}
	once sync.Once
}

// NewManualTicker returns a stopped-clock ticker.
func NewManualTicker() *ManualTicker {
	return &ManualTicker{c: make(chan time.Time, maxPosted), stop: make(chan struct{})}
}

// C implements raft.Ticker.
func (t *ManualTicker) C() <-chan time.Time { return t.c }

// Stop implements raft.Ticker; later Ticks return at once.
func (t *ManualTicker) Stop() { t.once.Do(func() { close(t.stop) }) }

// Tick delivers one tick, waiting until the node takes it (or is stopped).
// It carries no time, so the node counts it whatever its spacing.
func (t *ManualTicker) Tick() { t.TickAt(time.Time{}) }

// TickAt delivers one tick stamped at: the node measures its lateness from
// the previous stamped tick (a starved process ticks late).
func (t *ManualTicker) TickAt(at time.Time) {
	select {
	case t.c <- at:
	case <-t.stop:
		return
	}
	for len(t.c) > 0 {
		select {
		case <-t.stop:
			return
		default:
			runtime.Gosched()
		}
	}
}

// maxPosted is how many posted ticks may wait for the node.
const maxPosted = 64

// Post queues one unstamped tick and returns at once: the tick is due, and
// waits until the node takes it, as a real ticker's tick waits for a busy
// loop. It reports false when maxPosted ticks are already waiting.
func (t *ManualTicker) Post() bool {
	select {
	case t.c <- time.Time{}:
		return true
	default:
		return false
	}
}
