package store

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"google.golang.org/protobuf/proto"
)

// ErrMutated reports a stored object changed in place: some caller modified
// an object a read returned (or one it handed to Create/Update) instead of
// copying it. Only a store with the mutation check on detects it.
var ErrMutated = errors.New("store: a stored object was changed in place")

// WithMutationCheck turns the mutation check on or off. When on, the store
// fingerprints every object it stores and verifies the fingerprint when the
// object is replaced or removed and in VerifyUnchanged, so that a caller
// that changes a shared object is caught. It costs a marshal per stored
// object: a test and debugging aid. It is on by default in binaries built
// with -race (every CI run of the core packages' tests) and off otherwise.
func WithMutationCheck(on bool) Option {
	return func(s *Store) {
		if on {
			s.check = newMutationCheck()
		} else {
			s.check = nil
		}
		s.st.check = s.check
	}
}

// mutationCheck holds the fingerprints of the stored objects. The state
// calls it under the store's write lock; VerifyUnchanged under the read lock.
type mutationCheck struct {
	seed maphash.Seed
	fp   map[Object]uint64
	mu   sync.Mutex // guards bad (VerifyUnchanged runs under the read lock)
	bad  []error
}

func newMutationCheck() *mutationCheck {
	return &mutationCheck{seed: maphash.MakeSeed(), fp: make(map[Object]uint64)}
}

func (c *mutationCheck) sum(o Object) uint64 {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(o)
	if err != nil {
		return 0
	}
	return maphash.Bytes(c.seed, b)
}

// seal records o's fingerprint as it is stored.
func (c *mutationCheck) seal(o Object) { c.fp[o] = c.sum(o) }

// release verifies o (leaving the state) and forgets it.
func (c *mutationCheck) release(k Kind, o Object) {
	c.verify(k, o)
	delete(c.fp, o)
}

func (c *mutationCheck) verify(k Kind, o Object) {
	want, ok := c.fp[o]
	if !ok || c.sum(o) == want {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, fmt.Errorf("%w: %s %s (version %d)", ErrMutated, k, o.GetId(), o.GetMeta().GetVersion()))
}

// VerifyUnchanged checks every stored object against its fingerprint and
// returns every violation found so far (ErrMutated), or nil. Without the
// mutation check (WithMutationCheck) it returns nil.
func (s *Store) VerifyUnchanged() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.check
	if c == nil {
		return nil
	}
	for _, k := range Kinds() {
		for _, cl := range s.st.tables[k].objs {
			c.verify(k, cl.o)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Report each violation once per call; keep them for later calls too.
	return errors.Join(dedupe(c.bad)...)
}

func dedupe(errs []error) []error {
	seen := make(map[string]bool, len(errs))
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}
