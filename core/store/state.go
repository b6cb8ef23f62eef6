package store

import (
	"fmt"
	"strings"
)

// table holds the objects of one kind and their secondary indexes.
type table struct {
	kind Kind
	objs map[string]Object
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
		t := &table{kind: k, objs: make(map[string]Object)}
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
	return st.tables[k].objs[id]
}

// put inserts or replaces o and returns the object it replaced. An index
// whose key the replacement keeps has its entry overwritten in place, not
// deleted and added again: a commit of 100,000 placements keeps the task's
// service, slot and desired state, and the sets behind those keys are big.
func (st *state) put(k Kind, o Object) Object {
	t := st.tables[k]
	id := o.GetId()
	old := t.objs[id]
	if old != nil && st.check != nil {
		st.check.release(k, old)
	}
	if st.check != nil {
		st.check.seal(o)
	}
	t.objs[id] = o
	for i, def := range indexDefs[k] {
		key, ok := def.key(o)
		if old != nil {
			oldKey, oldOK := def.key(old)
			if oldOK && ok && oldKey == key {
				t.idx[i][key].put(id, o)
				continue
			}
			if oldOK {
				t.unindexKey(i, oldKey, id)
			}
		}
		if !ok {
			continue
		}
		set := t.idx[i][key]
		if set == nil {
			set = &objSet{}
			t.idx[i][key] = set
		}
		set.put(id, o)
	}
	return old
}

// del removes the object with id and returns it (nil if absent).
func (st *state) del(k Kind, id string) Object {
	t := st.tables[k]
	old := t.objs[id]
	if old == nil {
		return nil
	}
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
		for _, o := range t.objs {
			out = append(out, o)
		}
		return out, nil
	case byIDPrefix:
		var out []Object
		if o, ok := t.objs[b.prefix]; ok && b.prefix != "" {
			// Fast path for a full ID; other IDs may still share the prefix.
			out = append(out, o)
			for id, o := range t.objs {
				if id != b.prefix && strings.HasPrefix(id, b.prefix) {
					out = append(out, o)
				}
			}
			return out, nil
		}
		for id, o := range t.objs {
			if strings.HasPrefix(id, b.prefix) {
				out = append(out, o)
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
