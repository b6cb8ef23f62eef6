package store

import (
	"context"
	"sync"
)

// StateMachine is what a MemoryProposer applies to (the same method set as
// core/raft's StateMachine; *Store implements it).
type StateMachine interface {
	Apply(index uint64, payload []byte) error
	Snapshot() ([]byte, error)
	Restore(index uint64, data []byte) error
}

// DecodedApplier is a StateMachine that can apply its own process's
// proposal from the in-memory request (see Store.ApplyDecoded).
type DecodedApplier interface {
	ApplyDecoded(index uint64, payload []byte, decoded any) error
}

// MemoryProposer is a single-process Proposer for tests: Propose applies the
// payload to the bound state machine at once, with indexes 1, 2, 3, ... It
// never talks to the network and is deterministic.
type MemoryProposer struct {
	mu    sync.Mutex
	sm    StateMachine
	index uint64
}

// NewMemoryProposer returns an unbound MemoryProposer; Bind it before use.
func NewMemoryProposer() *MemoryProposer { return &MemoryProposer{} }

// Bind sets the state machine proposals are applied to.
func (p *MemoryProposer) Bind(sm StateMachine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sm = sm
}

// Propose applies payload at the next index (after the state machine's
// AppliedIndex, if it has one) and returns Apply's error.
func (p *MemoryProposer) Propose(ctx context.Context, payload []byte) error {
	return p.ProposeDecoded(ctx, payload, nil)
}

// ProposeDecoded is Propose that hands decoded (the request payload was
// marshalled from) to the state machine's ApplyDecoded when it has one, as
// core/raft does for the leader's own entries.
func (p *MemoryProposer) ProposeDecoded(ctx context.Context, payload []byte, decoded any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sm == nil {
		return ErrNoProposer
	}
	// Continue after a Restore to a higher index.
	if a, ok := p.sm.(interface{ AppliedIndex() uint64 }); ok && a.AppliedIndex() > p.index {
		p.index = a.AppliedIndex()
	}
	p.index++
	if da, ok := p.sm.(DecodedApplier); ok && decoded != nil {
		return da.ApplyDecoded(p.index, payload, decoded)
	}
	return p.sm.Apply(p.index, payload)
}

// Index returns the last index handed out.
func (p *MemoryProposer) Index() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.index
}

// NewLocal returns a Store wired to its own MemoryProposer: every Update is
// applied immediately at the next index (1, 2, 3, ...). It is the store to
// use in unit tests of components built on the store. For fully
// deterministic objects also pass WithClock.
func NewLocal(opts ...Option) *Store {
	p := NewMemoryProposer()
	s := New(p, opts...)
	p.Bind(s)
	return s
}
