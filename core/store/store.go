package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// Proposer replicates a payload and returns once it is committed and applied
// locally, with the error Apply returned for it. *raft.Node satisfies it.
type Proposer interface {
	Propose(ctx context.Context, payload []byte) error
}

// DecodedProposer is a Proposer that also carries the in-memory request
// beside its bytes, so that when the entry comes back to this process the
// state machine's ApplyDecoded can use it instead of decoding payload
// (followers and replays still decode). The caller hands decoded over: it
// must not change after the call. *raft.Node and MemoryProposer satisfy it.
type DecodedProposer interface {
	ProposeDecoded(ctx context.Context, payload []byte, decoded any) error
}

// Defaults for Batch and watchers.
const (
	DefaultMaxChangesPerProposal = 1000
	DefaultMaxProposalBytes      = 1 << 20
	DefaultWatchQueueLimit       = 1 << 20
)

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// WithClock sets the clock that stamps Meta.CreatedAt/UpdatedAt on the
// proposing side (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithMaxChangesPerProposal sets how many changes a Batch packs into one proposal.
func WithMaxChangesPerProposal(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxChanges = n
		}
	}
}

// WithMaxProposalBytes sets the estimated payload size at which a Batch flushes.
func WithMaxProposalBytes(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxBytes = n
		}
	}
}

// WithWatchQueueLimit sets how many undelivered events (counted before the
// watcher's filters, commit markers included) a watcher may have queued
// before it is ended with ErrWatcherFellBehind (<= 0: unlimited; default
// DefaultWatchQueueLimit).
func WithWatchQueueLimit(n int) Option {
	return func(s *Store) { s.watchLimit = n }
}

// Store is the replicated in-memory cluster store. It implements core/raft's
// StateMachine (Apply, Snapshot, Restore).
type Store struct {
	proposer   Proposer
	log        *slog.Logger
	now        func() time.Time
	maxChanges int
	maxBytes   int
	watchLimit int

	// updateMu serialises writers across propose-and-wait.
	updateMu sync.Mutex

	// mu guards st and index. Apply holds it for writing.
	mu    sync.RWMutex
	st    *state
	index uint64
	check *mutationCheck // nil unless WithMutationCheck (default on under -race)

	reqID     atomic.Uint64
	proposals atomic.Uint64
	published atomic.Uint64 // see PublishedIndex

	// wmu guards watchers, nodeWatchers and closed; taken inside mu when
	// publishing.
	wmu          sync.Mutex
	watchers     map[*watcher]struct{}
	nodeWatchers map[string]map[*watcher]struct{} // by node: see ViewAndWatchNode
	closed       bool
}

// New returns an empty store that writes through p.
func New(p Proposer, opts ...Option) *Store {
	s := &Store{
		proposer:   p,
		log:        slog.New(slog.DiscardHandler),
		now:        time.Now,
		maxChanges: DefaultMaxChangesPerProposal,
		maxBytes:   DefaultMaxProposalBytes,
		watchLimit: DefaultWatchQueueLimit,
		st:         newState(),
		watchers:   make(map[*watcher]struct{}),

		nodeWatchers: make(map[string]map[*watcher]struct{}),
	}
	if mutationCheckDefault {
		s.check = newMutationCheck()
		s.st.check = s.check
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// View runs fn on a consistent snapshot of the store. fn must not call
// Update, Batch, View or Apply (the read lock is held while it runs).
func (s *Store) View(fn func(ReadTx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.viewLocked(fn)
}

func (s *Store) viewLocked(fn func(ReadTx) error) error {
	closed := false
	defer func() { closed = true }()
	return fn(readTx{r: viewReader{st: s.st}, closed: &closed})
}

// AppliedIndex returns the index of the last entry applied (or restored).
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// PublishedIndex returns the index of the last entry whose events were
// published to watchers, or of the last restored snapshot, whichever is
// later. Rejected entries publish nothing and do not move it. A watcher
// subscribed by ViewAndWatch has seen every change up to PublishedIndex
// once it has received the commit event of that index (or its view was
// taken at or after it): a consumer that keeps state from events uses it
// to catch up with the store before acting (the scheduler does).
func (s *Store) PublishedIndex() uint64 { return s.published.Load() }

// ProposalCount returns how many proposals this store has made.
func (s *Store) ProposalCount() uint64 { return s.proposals.Load() }

// Update runs fn in a write transaction and proposes all its changes as one
// Raft entry, returning once it is applied (or with Apply's error, e.g.
// ErrSequenceConflict). If fn returns an error nothing is proposed. If ctx
// ends while waiting, the entry may still commit later. fn must not call
// Update or Batch.
func (s *Store) Update(ctx context.Context, fn func(Tx) error) error {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	ov := newOverlay(lockedReader{s})
	t := newWriteTx(ov, s.now)
	err := fn(t)
	t.closed = true
	if err != nil {
		return err
	}
	return s.propose(ctx, ov)
}

// propose sends the overlay's changes as one StoreRequest. The caller holds updateMu.
func (s *Store) propose(ctx context.Context, ov *overlay) error {
	actions := ov.actions()
	if len(actions) == 0 {
		return nil
	}
	if s.proposer == nil {
		return ErrNoProposer
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &shoalv1.StoreRequest{Id: s.reqID.Add(1), Actions: actions}
	// A batch sized each object as it took it over (the byte limit): the
	// marshal reuses those sizes instead of walking every object again.
	payload, err := proto.MarshalOptions{UseCachedSize: ov.sized}.Marshal(req)
	if err != nil {
		return fmt.Errorf("store: marshal request: %w", err)
	}
	s.proposals.Add(1)
	if dp, ok := s.proposer.(DecodedProposer); ok {
		// The request's objects are the overlay's, handed over by the
		// writers and never touched again: Apply may store them as they are.
		return dp.ProposeDecoded(ctx, payload, req)
	}
	return s.proposer.Propose(ctx, payload)
}

// Batch lets fn make many small transactions (b.Update) that are packed into
// few proposals: pending changes are proposed whenever they reach
// MaxChangesPerProposal or the estimated MaxProposalBytes, and at the end.
// One b.Update is never split across proposals, so a proposal may exceed
// the byte estimate by the size of its last b.Update. If fn returns an error,
// changes not yet proposed are dropped (earlier proposals stay committed).
//
// The update lock is held from the first b.Update of a proposal until that
// proposal is applied, and released between proposals, so other writers (a
// dispatcher flushing task status, say) get their turn during a long batch
// instead of waiting for all of it.
func (s *Store) Batch(ctx context.Context, fn func(*Batch) error) error {
	b := &Batch{s: s, ctx: ctx}
	defer b.unlock()
	err := fn(b)
	b.done = true
	if err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}
	if b.pending == nil {
		return nil
	}
	return b.flush()
}

// Batch collects b.Update calls; see Store.Batch.
type Batch struct {
	s       *Store
	ctx     context.Context
	pending *overlay // nil while the batch does not hold the update lock
	err     error
	done    bool
}

func (b *Batch) lock() {
	if b.pending == nil {
		b.s.updateMu.Lock()
		b.pending = newOverlay(lockedReader{b.s})
		b.pending.sized = true
		b.pending.hint = min(b.s.maxChanges, DefaultMaxChangesPerProposal)
	}
}

func (b *Batch) unlock() {
	if b.pending != nil {
		b.pending = nil
		b.s.updateMu.Unlock()
	}
}

// Update runs fn in a transaction on top of the batch's pending changes. If fn
// fails its changes are dropped and its error returned; the batch goes on.
// If a flush fails, that error is returned now and by every later call.
func (b *Batch) Update(fn func(Tx) error) error {
	if b.done {
		return ErrTxClosed
	}
	if b.err != nil {
		return b.err
	}
	b.lock()
	child := newOverlay(b.pending)
	t := newWriteTx(child, b.s.now)
	err := fn(t)
	t.closed = true
	if err != nil {
		return err
	}
	b.pending.merge(child)
	if len(b.pending.order) >= b.s.maxChanges || b.pending.bytes >= b.s.maxBytes {
		if err := b.flush(); err != nil {
			b.err = err
			return err
		}
	}
	return nil
}

// flush proposes the pending changes and releases the update lock.
func (b *Batch) flush() error {
	ov := b.pending
	err := b.s.propose(b.ctx, ov)
	b.unlock()
	return err
}
