package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ReadTx reads the store. Get* return nil when the object does not exist.
// Every read (Get*, Find*, Get, Find, Range) returns the stored objects
// themselves, shared and read-only: never change one; copy it first
// (proto.Clone) and hand the copy to Tx.Update. Results are sorted by ID.
type ReadTx interface {
	GetCluster(id string) *shoalv1.Cluster
	GetNode(id string) *shoalv1.Node
	GetService(id string) *shoalv1.Service
	GetTask(id string) *shoalv1.Task
	GetNetwork(id string) *shoalv1.Network
	GetPlugin(id string) *shoalv1.PluginModule
	GetSecret(id string) *shoalv1.Secret
	GetConfig(id string) *shoalv1.Config

	FindClusters(by By) ([]*shoalv1.Cluster, error)
	FindNodes(by By) ([]*shoalv1.Node, error)
	FindServices(by By) ([]*shoalv1.Service, error)
	FindTasks(by By) ([]*shoalv1.Task, error)
	FindNetworks(by By) ([]*shoalv1.Network, error)
	FindPlugins(by By) ([]*shoalv1.PluginModule, error)
	FindSecrets(by By) ([]*shoalv1.Secret, error)
	FindConfigs(by By) ([]*shoalv1.Config, error)

	// Get returns the (shared, read-only) object of kind k with id, or nil.
	Get(k Kind, id string) Object
	// Find returns the (shared, read-only) objects of kind k selected by by.
	Find(k Kind, by By) ([]Object, error)
	// Range calls fn for each selected object, in ID order, until fn returns
	// false. The objects are shared: do not modify them.
	Range(k Kind, by By, fn func(Object) bool) error
	// Count returns how many objects of kind k by selects.
	Count(k Kind, by By) (int, error)
	// Resolve returns the ID of the one object of kind k whose ID equals
	// idOrPrefix or, failing that, starts with it. ErrNotExist when none,
	// ErrAmbiguousPrefix when several match.
	Resolve(k Kind, idOrPrefix string) (string, error)
}

// Tx is a write transaction: a ReadTx that also sees its own writes.
type Tx interface {
	ReadTx
	// Create adds a new object. The caller hands obj over: the store keeps
	// it (no copy) and sets its Meta, so the caller must not touch obj
	// afterwards. ErrExist if the ID exists, ErrNameConflict for a taken
	// unique name.
	Create(obj Object) error
	// Update replaces an existing object. obj.Meta.Version must equal the
	// version the Tx sees (as read through it), else ErrSequenceConflict.
	// As with Create the caller hands obj over. obj must be a copy, never
	// the object a read returned (ErrInvalidObject: that one is shared).
	Update(obj Object) error
	// Delete removes the object of kind k with id. ErrNotExist if absent.
	Delete(k Kind, id string) error
}

// reader is what read transactions read from: the locked state, or an overlay.
// Returned objects are shared and read-only.
type reader interface {
	get(k Kind, id string) Object
	find(k Kind, by By) ([]Object, error)
}

// lockedReader reads the store's state taking the read lock per call.
type lockedReader struct{ s *Store }

func (r lockedReader) get(k Kind, id string) Object {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	return r.s.st.get(k, id)
}

func (r lockedReader) find(k Kind, by By) ([]Object, error) {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	return r.s.st.find(k, by)
}

// change is one object touched by a transaction.
type change struct {
	kind        Kind
	id          string
	obj         Object // nil: deleted
	existed     bool   // the object existed in the parent at first touch
	origVersion uint64 // its version then
	size        int    // estimated encoded size (batches only)
}

// overlay is a set of uncommitted changes on top of a parent reader.
type overlay struct {
	parent  reader
	changes [numKinds + 1]map[string]*change
	order   []*change
	bytes   int
	// sized: every change's object was sized (changeSize) after its writer
	// handed it over, so the encoded sizes cached in it are current and
	// propose may marshal with them (a Batch's overlay).
	sized bool
	// hint sizes the change maps and order when the first change arrives
	// (a batch's pending changes reach MaxChangesPerProposal).
	hint int
}

func newOverlay(parent reader) *overlay { return &overlay{parent: parent} }

func (ov *overlay) lookup(k Kind, id string) *change {
	if m := ov.changes[k]; m != nil {
		return m[id]
	}
	return nil
}

func (ov *overlay) get(k Kind, id string) Object {
	if c := ov.lookup(k, id); c != nil {
		return c.obj
	}
	return ov.parent.get(k, id)
}

func (ov *overlay) find(k Kind, by By) ([]Object, error) {
	base, err := ov.parent.find(k, by)
	if err != nil {
		return nil, err
	}
	m := ov.changes[k]
	if len(m) == 0 {
		return base, nil
	}
	out := base[:0]
	for _, o := range base {
		if _, touched := m[o.GetId()]; !touched {
			out = append(out, o)
		}
	}
	for _, c := range m {
		if c.obj == nil {
			continue
		}
		ok, err := matches(k, by, c.obj)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c.obj)
		}
	}
	return out, nil
}

// record notes that (k,id) now holds obj (nil = deleted) given the object
// the overlay saw before (cur).
func (ov *overlay) record(k Kind, id string, obj, cur Object) *change {
	if c := ov.lookup(k, id); c != nil {
		c.obj = obj
		return c
	}
	c := &change{kind: k, id: id, obj: obj}
	if cur != nil {
		c.existed = true
		c.origVersion = cur.GetMeta().GetVersion()
	}
	ov.add(c)
	return c
}

// add inserts a change for a key the overlay has not touched yet.
func (ov *overlay) add(c *change) {
	if ov.changes[c.kind] == nil {
		ov.changes[c.kind] = make(map[string]*change, ov.hint)
		if ov.order == nil {
			ov.order = make([]*change, 0, ov.hint)
		}
	}
	ov.changes[c.kind][c.id] = c
	ov.order = append(ov.order, c)
}

// merge folds child (whose parent is ov) into ov, updating size estimates.
func (ov *overlay) merge(child *overlay) {
	for _, cc := range child.order {
		size := changeSize(cc)
		if c := ov.lookup(cc.kind, cc.id); c != nil {
			ov.bytes += size - c.size
			c.obj, c.size = cc.obj, size
			continue
		}
		cc.size = size
		ov.bytes += size
		ov.add(cc)
	}
}

func changeSize(c *change) int {
	if c.obj == nil {
		return len(c.id) + 24
	}
	return proto.Size(c.obj) + 16
}

// actions turns the overlay into store actions, in first-touch order.
func (ov *overlay) actions() []*shoalv1.StoreAction {
	out := make([]*shoalv1.StoreAction, 0, len(ov.order))
	for _, c := range ov.order {
		switch {
		case c.existed && c.obj == nil:
			out = append(out, &shoalv1.StoreAction{
				Kind:   shoalv1.StoreActionKind_STORE_ACTION_KIND_REMOVE,
				Object: wrap(newEmpty(c.kind, c.id, &shoalv1.Meta{Version: c.origVersion})),
			})
		case c.existed:
			// The overlay owns c.obj; a delete-then-create carries version 0.
			if m := c.obj.GetMeta(); m.GetVersion() != c.origVersion {
				m.Version = c.origVersion
				if ov.sized {
					proto.Size(c.obj) // refresh the cached sizes
				}
			}
			out = append(out, &shoalv1.StoreAction{
				Kind:   shoalv1.StoreActionKind_STORE_ACTION_KIND_UPDATE,
				Object: wrap(c.obj),
			})
		case c.obj != nil:
			out = append(out, &shoalv1.StoreAction{
				Kind:   shoalv1.StoreActionKind_STORE_ACTION_KIND_CREATE,
				Object: wrap(c.obj),
			})
		}
	}
	return out
}

// readTx implements ReadTx on a reader.
type readTx struct {
	r      reader
	closed *bool
}

// sortByID sorts objs by ID. IDs are extracted once so that the sort
// compares plain strings instead of calling GetId through an interface.
func sortByID(objs []Object) {
	if len(objs) < 2 {
		return
	}
	type keyed struct {
		id string
		o  Object
	}
	ks := make([]keyed, len(objs))
	for i, o := range objs {
		ks[i] = keyed{o.GetId(), o}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.id, b.id) })
	for i := range ks {
		objs[i] = ks[i].o
	}
}

func (t readTx) Get(k Kind, id string) Object {
	if t.closed != nil && *t.closed {
		return nil
	}
	return t.r.get(k, id)
}

func (t readTx) Find(k Kind, by By) ([]Object, error) {
	if t.closed != nil && *t.closed {
		return nil, ErrTxClosed
	}
	objs, err := t.r.find(k, by)
	if err != nil {
		return nil, err
	}
	sortByID(objs)
	return objs, nil
}

func (t readTx) Range(k Kind, by By, fn func(Object) bool) error {
	if t.closed != nil && *t.closed {
		return ErrTxClosed
	}
	objs, err := t.r.find(k, by)
	if err != nil {
		return err
	}
	sortByID(objs)
	for _, o := range objs {
		if !fn(o) {
			break
		}
	}
	return nil
}

func (t readTx) Count(k Kind, by By) (int, error) {
	if t.closed != nil && *t.closed {
		return 0, ErrTxClosed
	}
	if v, ok := t.r.(viewReader); ok {
		return v.st.count(k, by)
	}
	objs, err := t.r.find(k, by)
	return len(objs), err
}

func (t readTx) Resolve(k Kind, idOrPrefix string) (string, error) {
	if t.closed != nil && *t.closed {
		return "", ErrTxClosed
	}
	if !k.Valid() {
		return "", fmt.Errorf("%w: kind %s", ErrInvalidObject, k)
	}
	if idOrPrefix == "" {
		return "", fmt.Errorf("%w: empty %s id", ErrNotExist, k)
	}
	if t.r.get(k, idOrPrefix) != nil {
		return idOrPrefix, nil
	}
	objs, err := t.r.find(k, ByIDPrefix(idOrPrefix))
	if err != nil {
		return "", err
	}
	switch len(objs) {
	case 0:
		return "", fmt.Errorf("%w: %s %q", ErrNotExist, k, idOrPrefix)
	case 1:
		return objs[0].GetId(), nil
	}
	return "", fmt.Errorf("%w: %s %q matches %d objects", ErrAmbiguousPrefix, k, idOrPrefix, len(objs))
}

func getTyped[T Object](t readTx, k Kind, id string) T {
	var zero T
	o := t.Get(k, id)
	if o == nil {
		return zero
	}
	return o.(T)
}

func findTyped[T Object](t readTx, k Kind, by By) ([]T, error) {
	objs, err := t.Find(k, by)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(objs))
	for i, o := range objs {
		out[i] = o.(T)
	}
	return out, nil
}

func (t readTx) GetCluster(id string) *shoalv1.Cluster {
	return getTyped[*shoalv1.Cluster](t, KindCluster, id)
}
func (t readTx) GetNode(id string) *shoalv1.Node { return getTyped[*shoalv1.Node](t, KindNode, id) }
func (t readTx) GetService(id string) *shoalv1.Service {
	return getTyped[*shoalv1.Service](t, KindService, id)
}
func (t readTx) GetTask(id string) *shoalv1.Task { return getTyped[*shoalv1.Task](t, KindTask, id) }
func (t readTx) GetNetwork(id string) *shoalv1.Network {
	return getTyped[*shoalv1.Network](t, KindNetwork, id)
}
func (t readTx) GetPlugin(id string) *shoalv1.PluginModule {
	return getTyped[*shoalv1.PluginModule](t, KindPlugin, id)
}
func (t readTx) GetSecret(id string) *shoalv1.Secret {
	return getTyped[*shoalv1.Secret](t, KindSecret, id)
}
func (t readTx) GetConfig(id string) *shoalv1.Config {
	return getTyped[*shoalv1.Config](t, KindConfig, id)
}

func (t readTx) FindClusters(by By) ([]*shoalv1.Cluster, error) {
	return findTyped[*shoalv1.Cluster](t, KindCluster, by)
}
func (t readTx) FindNodes(by By) ([]*shoalv1.Node, error) {
	return findTyped[*shoalv1.Node](t, KindNode, by)
}
func (t readTx) FindServices(by By) ([]*shoalv1.Service, error) {
	return findTyped[*shoalv1.Service](t, KindService, by)
}
func (t readTx) FindTasks(by By) ([]*shoalv1.Task, error) {
	return findTyped[*shoalv1.Task](t, KindTask, by)
}
func (t readTx) FindNetworks(by By) ([]*shoalv1.Network, error) {
	return findTyped[*shoalv1.Network](t, KindNetwork, by)
}
func (t readTx) FindPlugins(by By) ([]*shoalv1.PluginModule, error) {
	return findTyped[*shoalv1.PluginModule](t, KindPlugin, by)
}
func (t readTx) FindSecrets(by By) ([]*shoalv1.Secret, error) {
	return findTyped[*shoalv1.Secret](t, KindSecret, by)
}
func (t readTx) FindConfigs(by By) ([]*shoalv1.Config, error) {
	return findTyped[*shoalv1.Config](t, KindConfig, by)
}

// viewReader reads the state directly; the caller holds the read lock.
type viewReader struct{ st *state }

func (v viewReader) get(k Kind, id string) Object         { return v.st.get(k, id) }
func (v viewReader) find(k Kind, by By) ([]Object, error) { return v.st.find(k, by) }

// writeTx implements Tx on an overlay.
type writeTx struct {
	readTx
	ov     *overlay
	now    func() time.Time
	closed bool
}

func newWriteTx(ov *overlay, now func() time.Time) *writeTx {
	t := &writeTx{ov: ov, now: now}
	t.readTx = readTx{r: ov, closed: &t.closed}
	return t
}

func (t *writeTx) Create(obj Object) error {
	k, cur, err := t.current(obj)
	if err != nil {
		return err
	}
	if cur != nil {
		return fmt.Errorf("%w: %s %s", ErrExist, k, obj.GetId())
	}
	ts := timestamppb.New(t.now())
	setMeta(obj, &shoalv1.Meta{CreatedAt: ts, UpdatedAt: ts})
	return t.put(k, obj, nil)
}

func (t *writeTx) Update(obj Object) error {
	k, cur, err := t.current(obj)
	if err != nil {
		return err
	}
	id := obj.GetId()
	if cur == nil {
		return fmt.Errorf("%w: %s %s", ErrNotExist, k, id)
	}
	if have, want := obj.GetMeta().GetVersion(), cur.GetMeta().GetVersion(); have != want {
		return fmt.Errorf("%w: %s %s has version %d, update names %d", ErrSequenceConflict, k, id, want, have)
	}
	if obj == cur {
		return fmt.Errorf("%w: %s %s is the shared object a read returned: copy it (proto.Clone) before changing it, then update with the copy", ErrInvalidObject, k, id)
	}
	setMeta(obj, &shoalv1.Meta{
		Version:   cur.GetMeta().GetVersion(),
		CreatedAt: cur.GetMeta().GetCreatedAt(),
		UpdatedAt: timestamppb.New(t.now()),
	})
	return t.put(k, obj, cur)
}

// current checks obj and returns its kind and the stored object of its ID
// (nil if none).
func (t *writeTx) current(obj Object) (Kind, Object, error) {
	if t.closed {
		return 0, nil, ErrTxClosed
	}
	k, err := checkObject(obj)
	if err != nil {
		return 0, nil, err
	}
	return k, t.ov.get(k, obj.GetId()), nil
}

// put records o, replacing cur, once its unique keys are free.
func (t *writeTx) put(k Kind, o, cur Object) error {
	if err := t.checkUnique(k, o); err != nil {
		return err
	}
	t.ov.record(k, o.GetId(), o, cur)
	return nil
}

func (t *writeTx) Delete(k Kind, id string) error {
	if t.closed {
		return ErrTxClosed
	}
	if !k.Valid() {
		return fmt.Errorf("%w: kind %s", ErrInvalidObject, k)
	}
	cur := t.ov.get(k, id)
	if cur == nil {
		return fmt.Errorf("%w: %s %s", ErrNotExist, k, id)
	}
	t.ov.record(k, id, nil, cur)
	return nil
}

// checkUnique refuses a unique key held by another object in the Tx's view.
func (t *writeTx) checkUnique(k Kind, o Object) error {
	for _, def := range indexDefs[k] {
		if !def.unique {
			continue
		}
		key, ok := def.key(o)
		if !ok {
			continue
		}
		holders, err := t.ov.find(k, byIndex{def.name, key})
		if err != nil {
			return err
		}
		for _, h := range holders {
			if h.GetId() != o.GetId() {
				return fmt.Errorf("%w: %s %s %q is taken by %s", ErrNameConflict, k, def.name, key, h.GetId())
			}
		}
	}
	return nil
}
