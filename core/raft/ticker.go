package raft

import "time"

// Ticker is the node's clock: every value received from C is one Raft tick.
// The daemon uses a real ticker (NewTicker); tests drive ticks by hand.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

type realTicker struct{ t *time.Ticker }

// NewTicker returns a Ticker backed by time.Ticker.
func NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
