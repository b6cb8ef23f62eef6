package rafttest

import "fmt"

// trace records what the harness did: tick rounds, deliveries and drops, in
// order. Two runs with the same seed record the same trace. Guarded by the
// Network's lock.
type trace struct {
	on    bool
	lines []string
}

func (t *trace) add(what string, d delivery) {
	if t.on {
		t.lines = append(t.lines, fmt.Sprintf("%s %x->%x %s", what, d.from, d.to, d.meta))
	}
}

func (t *trace) mark(line string) {
	if t.on {
		t.lines = append(t.lines, line)
	}
}

// Record starts recording the trace (Trace returns it).
func (nw *Network) Record() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.trace.on = true
}

// Trace returns the recorded deliveries, drops and tick rounds.
func (nw *Network) Trace() []string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return append([]string(nil), nw.trace.lines...)
}

func (nw *Network) mark(line string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.trace.mark(line)
}
