package rafttest

import (
	"sync"
	"time"
)

// ManualTicker is a raft.Ticker that ticks only when Tick is called.
type ManualTicker struct {
	c    chan time.Time
	stop chan struct{}
	once sync.Once
}

// NewManualTicker returns a stopped-clock ticker.
func NewManualTicker() *ManualTicker {
	return &ManualTicker{c: make(chan time.Time), stop: make(chan struct{})}
}

// C implements raft.Ticker.
func (t *ManualTicker) C() <-chan time.Time { return t.c }

// Stop implements raft.Ticker; later Ticks return at once.
func (t *ManualTicker) Stop() { t.once.Do(func() { close(t.stop) }) }

// Tick delivers one tick, waiting until the node takes it (or is stopped).
func (t *ManualTicker) Tick() {
	select {
	case t.c <- time.Time{}:
	case <-t.stop:
	}
}
