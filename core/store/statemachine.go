package store

import (
	"fmt"
	"strings"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
)

// op is one decoded, validated action.
type op struct {
	act  shoalv1.StoreActionKind
	kind Kind
	obj  Object
	// decoded: obj was decoded by the store from the entry's bytes (not
	// the proposer's object), so the store may make it share equal parts
	// with stored objects (shareDecoded).
	decoded bool
}

// undo restores (kind, id) to old (nil: absent).
type undo struct {
	kind Kind
	id   string
	old  Object
}

func decodeRequest(payload []byte) ([]op, error) {
	var req shoalv1.StoreRequest
	if err := proto.Unmarshal(payload, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	ops, err := requestOps(&req)
	for i := range ops {
		ops[i].decoded = true
	}
	return ops, err
}

// requestOps validates a request and lists its actions. The decoded and the
// in-memory path (ApplyDecoded) share it, so both accept the same requests.
func requestOps(req *shoalv1.StoreRequest) ([]op, error) {
	ops := make([]op, 0, len(req.GetActions()))
	for i, a := range req.GetActions() {
		switch a.GetKind() {
		case shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE,
			shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE,
			shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE:
		default:
			return nil, fmt.Errorf("%w: action %d: unknown kind %v", ErrInvalidPayload, i, a.GetKind())
		}
		o, k, err := unwrap(a.GetObject())
		if err != nil {
			return nil, fmt.Errorf("%w: action %d: %w", ErrInvalidPayload, i, err)
		}
		ops = append(ops, op{act: a.GetKind(), kind: k, obj: o})
	}
	return ops, nil
}

// Apply applies one committed entry: a marshalled shoalv1.StoreRequest. It is
// deterministic and all-or-nothing: on any error (ErrInvalidPayload,
// ErrExist, ErrNotExist, ErrSequenceConflict, ErrNameConflict) the state is
// unchanged and no event is published; the index still counts as applied.
// ErrStaleIndex for index <= AppliedIndex (nothing changes).
func (s *Store) Apply(index uint64, payload []byte) error {
	ops, err := decodeRequest(payload)
	return s.applyOps(index, ops, err)
}

// ApplyDecoded is Apply for an entry this process proposed itself: decoded
// is the *shoalv1.StoreRequest that payload was marshalled from (handed to
// a DecodedProposer with it), so the store uses those objects instead of
// decoding payload again. The effect is the same as Apply(index, payload):
// the same validation and the same state, events and errors, because the
// request and the payload are the same proposal (the proposer guarantees
// it: core/raft compares the committed bytes with the proposed ones). Any
// other decoded value falls back to decoding payload.
func (s *Store) ApplyDecoded(index uint64, payload []byte, decoded any) error {
	req, ok := decoded.(*shoalv1.StoreRequest)
	if !ok || req == nil {
		return s.Apply(index, payload)
	}
	ops, err := requestOps(req)
	return s.applyOps(index, ops, err)
}

// applyOps applies ops decoded (or not, err) from the entry at index.
func (s *Store) applyOps(index uint64, ops []op, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.index {
		return fmt.Errorf("%w: %d <= %d", ErrStaleIndex, index, s.index)
	}
	s.index = index
	var events []Event
	if err == nil {
		events, err = s.st.apply(index, ops)
	}
	if err != nil {
		s.log.Debug("store: rejected entry", "index", index, "err", err)
		return err
	}
	s.published.Store(index)
	s.publish(append(events, Event{Kind: EventCommit, Index: index}))
	return nil
}

// apply runs ops against the state, rolling everything back on error.
func (st *state) apply(index uint64, ops []op) ([]Event, error) {
	undos := make([]undo, 0, len(ops))
	events := make([]Event, 0, len(ops)+1)
	fail := func(i int, o op, err error) ([]Event, error) {
		for j := len(undos) - 1; j >= 0; j-- {
			u := undos[j]
			if u.old == nil {
				st.del(u.kind, u.id)
			} else {
				st.put(u.kind, u.old)
			}
		}
		return nil, fmt.Errorf("action %d (%s %s %s): %w", i, actName(o.act), o.kind, o.obj.GetId(), err)
	}
	for i, o := range ops {
		id := o.obj.GetId()
		cur := st.get(o.kind, id)
		switch o.act {
		case shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE:
			if cur != nil {
				return fail(i, o, ErrExist)
			}
			if err := st.nameConflict(o.kind, o.obj); err != nil {
				return fail(i, o, err)
			}
			if t, ok := o.obj.(*shoalv1.Task); ok && o.decoded {
				st.shareDecoded(t, nil)
			}
			ensureMeta(o.obj).Version = index
			st.put(o.kind, o.obj)
			undos = append(undos, undo{kind: o.kind, id: id})
			events = append(events, Event{Kind: EventCreate, ObjectKind: o.kind, Object: o.obj, Index: index})
		case shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE:
			if cur == nil {
				return fail(i, o, ErrNotExist)
			}
			if have, want := o.obj.GetMeta().GetVersion(), cur.GetMeta().GetVersion(); have != want {
				return fail(i, o, fmt.Errorf("%w: stored version %d, update names %d", ErrSequenceConflict, want, have))
			}
			if err := st.nameConflict(o.kind, o.obj); err != nil {
				return fail(i, o, err)
			}
			if t, ok := o.obj.(*shoalv1.Task); ok && o.decoded {
				st.shareDecoded(t, cur.(*shoalv1.Task))
			}
			m := ensureMeta(o.obj)
			m.Version = index
			m.CreatedAt = cur.GetMeta().GetCreatedAt()
			st.put(o.kind, o.obj)
			undos = append(undos, undo{kind: o.kind, id: id, old: cur})
			events = append(events, Event{Kind: EventUpdate, ObjectKind: o.kind, Object: o.obj, Old: cur, Index: index})
		case shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE:
			if cur == nil {
				return fail(i, o, ErrNotExist)
			}
			if have, want := o.obj.GetMeta().GetVersion(), cur.GetMeta().GetVersion(); have != want {
				return fail(i, o, fmt.Errorf("%w: stored version %d, removal names %d", ErrSequenceConflict, want, have))
			}
			st.del(o.kind, id)
			undos = append(undos, undo{kind: o.kind, id: id, old: cur})
			events = append(events, Event{Kind: EventRemove, ObjectKind: o.kind, Object: cur, Old: cur, Index: index})
		}
	}
	return events, nil
}

// ensureMeta returns o's Meta, giving o an empty one first if it has none.
func ensureMeta(o Object) *shoalv1.Meta {
	m := o.GetMeta()
	if m == nil {
		m = &shoalv1.Meta{}
		setMeta(o, m)
	}
	return m
}

func actName(a shoalv1.StoreActionKind) string {
	switch a {
	case shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE:
		return "create"
	case shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE:
		return "update"
	case shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE:
		return "remove"
	}
	return a.String()
}

// Snapshot returns the whole state as a marshalled shoalv1.StoreSnapshot
// (objects sorted by ID, deterministic encoding). Use AppliedIndex under the
// same Raft apply sequence to know which index it reflects, or
// SnapshotWithIndex.
func (s *Store) Snapshot() ([]byte, error) {
	data, _, err := s.SnapshotWithIndex()
	return data, err
}

// SnapshotWithIndex is Snapshot plus the applied index it reflects.
func (s *Store) SnapshotWithIndex() ([]byte, uint64, error) {
	objs, index := s.allObjects()
	// Stored objects are immutable: marshal outside the lock.
	data, err := marshalObjects(&objs)
	if err != nil {
		return nil, 0, err
	}
	return data, index, nil
}

// Restore replaces the whole state with a snapshot taken at index. On
// success every watcher receives EventResync{Err: ErrRestored} after the
// events already queued, and its channel is closed. On error nothing changes.
func (s *Store) Restore(index uint64, data []byte) error {
	var snap shoalv1.StoreSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	st := newState()
	var check *mutationCheck
	if s.check != nil {
		// The new state's fingerprints, taken outside the lock.
		check = &mutationCheck{seed: s.check.seed, fp: make(map[Object]uint64, len(snap.GetTasks()))}
		st.check = check
	}
	objs := appendObjects(nil, snap.GetClusters())
	objs = appendObjects(objs, snap.GetNodes())
	objs = appendObjects(objs, snap.GetServices())
	objs = appendObjects(objs, snap.GetTasks())
	objs = appendObjects(objs, snap.GetNetworks())
	objs = appendObjects(objs, snap.GetPlugins())
	objs = appendObjects(objs, snap.GetSecrets())
	objs = appendObjects(objs, snap.GetConfigs())
	for _, o := range objs {
		k, err := checkObject(o)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
		}
		if st.get(k, o.GetId()) != nil {
			return fmt.Errorf("%w: duplicate %s %s", ErrInvalidSnapshot, k, o.GetId())
		}
		if err := st.nameConflict(k, o); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
		}
		if t, ok := o.(*shoalv1.Task); ok {
			st.shareDecoded(t, nil)
		}
		ensureMeta(o)
		st.put(k, o)
	}

	s.mu.Lock()
	if check != nil {
		for _, k := range Kinds() {
			for _, c := range s.st.tables[k].objs {
				s.check.verify(k, c.o)
			}
		}
		s.check.fp = check.fp
		st.check = s.check
	}
	s.st = st
	s.index = index
	s.published.Store(index)
	s.endWatchers(ErrRestored)
	s.mu.Unlock()
	s.log.Info("store: restored snapshot", "index", index, "objects", len(objs))
	return nil
}

// dump renders the whole state compactly, one object per line (tests, debugging).
func (s *Store) dump() string {
	var b strings.Builder
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range Kinds() {
		objs, _ := s.st.find(k, All())
		sortByID(objs)
		for _, o := range objs {
			fmt.Fprintf(&b, "%s %s v%d\n", k, o.GetId(), o.GetMeta().GetVersion())
		}
	}
	return b.String()
}

func appendObjects[T Object](objs []Object, in []T) []Object {
	for _, o := range in {
		objs = append(objs, o)
	}
	return objs
}
