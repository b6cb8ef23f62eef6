package store

import (
	"fmt"
	"strings"
)

// cell holds one stored object. The table's map and the object's entries in
// the index sets point to the same cell, so replacing the object writes one
// pointer instead of one map entry per index. Cells are state: only the
// store's write lock holder changes them, and no read hands one out.
type cell struct{ o Object }

// table holds the objects of one kind and their secondary indexes.
type table struct {
	kind Kind
	objs map[string]*cell
	idx  []map[string]*objSet // aligned with indexDefs[kind]
}

// state is the whole in-memory cluster state. It is not safe for concurrent
// use: the Store guards it with its RWMutex. Objects in it are never mutated.
type state struct {
	tables [numKinds + 1]*table
	check  *mutationCheck // nil unless WithMutationCheck
	// specs is the TaskSpec each service's decoded tasks share, by
	// service ID (shareDecoded); nil until a decoded task needs it.
	specs map[string]*sharedSpec
}

func newState() *state {
	st := &state{}
	for _, k := range Kinds() {
		t := &table{kind: k, objs: make(map[string]*cell)}
		t.idx = make([]map[string]*objSet, len(indexDefs[k]))
		for i := range t.idx {
			t.idx[i] = make(map[string]*objSet)
		}
		st.tables[k] = t
	}
	return st
}

func (st *state) get(k Kind, id string) Object {
	if !k.Valid() {
		return nil
	}
	if c := st.tables[k].objs[id]; c != nil {
		return c.o
	}
	return nil
}

// put inserts or replaces o and returns the object it replaced. The
// object's cell is shared by the table and its index sets, so a replacement
// touches only the indexes whose key it changes: a commit of 100,000
// placements moves each task's node and state keys and leaves its service,
// slot and desired-state entries (in sets of up to 100,000) alone.
func (st *state) put(k Kind, o Object) Object {
	t := st.tables[k]
	id := o.GetId()
	c := t.objs[id]
	if c == nil {
		if st.check != nil {
			st.check.seal(o)
		}
		c = &cell{o: o}
		t.objs[id] = c
		for i, def := range indexDefs[k] {
			if key, ok := def.key(o); ok {
				t.indexKey(i, key, id, c)
			}
		}
		return nil
	}
	old := c.o
	if st.check != nil {
		st.check.release(k, old)
		st.check.seal(o)
	}
	c.o = o
	for i, def := range indexDefs[k] {
		if def.same != nil && def.same(old, o) {
			continue
		}
		key, ok := def.key(o)
		oldKey, oldOK := def.key(old)
		if ok == oldOK && key == oldKey {
			continue
		}
		if oldOK {
			t.unindexKey(i, oldKey, id)
		}
		if ok {
			t.indexKey(i, key, id, c)
		}
	}
	return old
}

// del removes the object with id and returns it (nil if absent).
func (st *state) del(k Kind, id string) Object {
	t := st.tables[k]
	c := t.objs[id]
	if c == nil {
		return nil
	}
	old := c.o
	t.unindex(old)
	delete(t.objs, id)
	if k == KindService {
		delete(st.specs, id)
	}
	if st.check != nil {
		st.check.release(k, old)
	}
	return old
}

func (t *table) unindex(o Object) {
	id := o.GetId()
	for i, def := range indexDefs[t.kind] {
		if key, ok := def.key(o); ok {
			t.unindexKey(i, key, id)
		}
	}
}

// indexKey adds c (the cell of id) to the set of index i under key.
func (t *table) indexKey(i int, key, id string, c *cell) {
	set := t.idx[i][key]
	if set == nil {
		set = &objSet{}
		t.idx[i][key] = set
	}
	set.put(id, c)
}

// unindexKey removes id from the set of index i under key.
func (t *table) unindexKey(i int, key, id string) {
	set := t.idx[i][key]
	if set == nil {
		return
	}
	set.del(id)
	if set.len() == 0 {
		delete(t.idx[i], key)
	}
}

// nameConflict reports a unique-index key of o held by another object.
func (st *state) nameConflict(k Kind, o Object) error {
	t := st.tables[k]
	for i, def := range indexDefs[k] {
		if !def.unique {
			continue
		}
		key, ok := def.key(o)
		if !ok {
			continue
		}
		set := t.idx[i][key]
		if set == nil {
			continue
		}
		for _, other := range set.appendTo(nil) {
			if other.GetId() != o.GetId() {
				return fmt.Errorf("%w: %s %s %q is taken by %s", ErrNameConflict, k, def.name, key, other.GetId())
			}
		}
	}
	return nil
}

// find returns the (shared, unsorted) objects of kind k selected by by.
func (st *state) find(k Kind, by By) ([]Object, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("%w: kind %s", ErrInvalidFindBy, k)
	}
	t := st.tables[k]
	switch b := by.(type) {
	case byAll:
		out := make([]Object, 0, len(t.objs))
		for _, c := range t.objs {
			out = append(out, c.o)
		}
		return out, nil
	case byIDPrefix:
		var out []Object
		if c, ok := t.objs[b.prefix]; ok && b.prefix != "" {
			// Fast path for a full ID; other IDs may still share the prefix.
			out = append(out, c.o)
			for id, c := range t.objs {
				if id != b.prefix && strings.HasPrefix(id, b.prefix) {
					out = append(out, c.o)
				}
			}
			return out, nil
		}
		for id, c := range t.objs {
			if strings.HasPrefix(id, b.prefix) {
				out = append(out, c.o)
			}
		}
		return out, nil
	case byIndex:
		p := indexPos(k, b.index)
		if p < 0 {
			return nil, invalidBy(k, by)
		}
		set := t.idx[p][b.key]
		if set == nil {
			return []Object{}, nil
		}
		return set.appendTo(make([]Object, 0, set.len())), nil
	}
	return nil, invalidBy(k, by)
}

// count returns how many objects of kind k by selects.
func (st *state) count(k Kind, by By) (int, error) {
	if !k.Valid() {
		return 0, fmt.Errorf("%w: kind %s", ErrInvalidFindBy, k)
	}
	t := st.tables[k]
	switch b := by.(type) {
	case byAll:
		return len(t.objs), nil
	case byIndex:
		p := indexPos(k, b.index)
		if p < 0 {
			return 0, invalidBy(k, by)
		}
		if set := t.idx[p][b.key]; set != nil {
			return set.len(), nil
		}
		return 0, nil
	}
	objs, err := st.find(k, by)
	return len(objs), err
}

func invalidBy(k Kind, by By) error {
	switch b := by.(type) {
	case byIndex:
		return fmt.Errorf("%w: %s has no %q index", ErrInvalidFindBy, k, b.index)
	case nil:
		return fmt.Errorf("%w: nil selector", ErrInvalidFindBy)
	}
	return fmt.Errorf("%w: %T for %s", ErrInvalidFindBy, by, k)
}
