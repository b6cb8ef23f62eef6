package store

import "fmt"

// Walk calls fn on every object of kind k, in no particular order, until
// fn returns false. It holds the read lock meanwhile (nothing is applied),
// so fn must be quick and must not call the store; the objects are shared
// and read-only. It is for aggregates over many objects (metrics), where
// Range's sorting by ID would cost more than the walk.
func (s *Store) Walk(k Kind, fn func(Object) bool) error {
	if !k.Valid() {
		return fmt.Errorf("%w: kind %s", ErrInvalidFindBy, k)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.st.tables[k].objs {
		if !fn(c.o) {
			break
		}
	}
	return nil
}
