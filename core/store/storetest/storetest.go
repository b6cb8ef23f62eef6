package storetest

import (
	"context"
	"testing"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// Store is a local store (store.NewLocal) for one test.
type Store struct {
	*store.Store
	t testing.TB
}

// New returns a local store for t with the mutation check on: when the
// test ends it fails if any stored object was changed in place (a caller
// changed what a read returned instead of a copy). Benchmarks get the store
// as production runs it, without the check.
func New(t testing.TB, opts ...store.Option) *Store {
	_, bench := t.(*testing.B)
	s := &Store{Store: store.NewLocal(append([]store.Option{store.WithMutationCheck(!bench)}, opts...)...), t: t}
	t.Cleanup(func() {
		if err := s.VerifyUnchanged(); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return s
}

// MustUpdate runs fn in one write transaction and fails the test on error.
func (s *Store) MustUpdate(fn func(tx store.Tx) error) {
	s.t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		s.t.Fatal(err)
	}
}

// Create creates objs in one batch and fails the test on error.
func (s *Store) Create(objs ...store.Object) {
	s.t.Helper()
	err := s.Batch(context.Background(), func(b *store.Batch) error {
		for _, o := range objs {
			if err := b.Update(func(tx store.Tx) error { return tx.Create(o) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// Tasks returns the tasks of service.
func (s *Store) Tasks(service string) []*shoalv1.Task {
	s.t.Helper()
	var out []*shoalv1.Task
	err := s.View(func(tx store.ReadTx) error {
		var err error
		out, err = tx.FindTasks(store.ByService(service))
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	for i, t := range out {
		out[i] = proto.CloneOf(t) // the test may change its copies
	}
	return out
}

// Service returns service id, nil when there is none.
func (s *Store) Service(id string) *shoalv1.Service {
	var out *shoalv1.Service
	_ = s.View(func(tx store.ReadTx) error { out = tx.GetService(id); return nil })
	return proto.CloneOf(out) // the test may change its copy
}

// Writes counts the proposals fn makes.
func (s *Store) Writes(fn func()) uint64 {
	before := s.ProposalCount()
	fn()
	return s.ProposalCount() - before
}
