package store

import (
	"fmt"
	"slices"
	"sync"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventCreate: Object was created.
	EventCreate EventKind = iota + 1
	// EventUpdate: Object replaced Old.
	EventUpdate
	// EventRemove: Object (== Old) was removed.
	EventRemove
	// EventCommit ends the events of the entry at Index. Never filtered.
	EventCommit
	// EventResync is the last event of a watcher before its channel is
	// closed; Err says why (ErrWatcherFellBehind, ErrRestored,
	// ErrStoreClosed). Never filtered.
	EventResync
)

var eventKindNames = [...]string{"unknown", "create", "update", "remove", "commit", "resync"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one change announced to watchers. Object and Old are shared by
// all watchers and read-only: clone them before changing them.
type Event struct {
	Kind       EventKind
	ObjectKind Kind   // kind of Object (create/update/remove)
	Object     Object // the new object; for EventRemove the removed one
	Old        Object // the previous object (update/remove)
	Index      uint64 // Raft index of the entry
	Err        error  // EventResync only
}

func (e Event) String() string {
	switch e.Kind {
	case EventCommit:
		return fmt.Sprintf("commit %d", e.Index)
	case EventResync:
		return fmt.Sprintf("resync: %v", e.Err)
	}
	return fmt.Sprintf("%s %s %s @%d", e.Kind, e.ObjectKind, e.Object.GetId(), e.Index)
}

// EventFilter selects object events; a watcher gets an object event only when
// all its filters return true. Commit and resync events bypass filters.
type EventFilter func(Event) bool

// ForKind selects events of objects of the given kinds.
func ForKind(kinds ...Kind) EventFilter {
	return func(e Event) bool { return slices.Contains(kinds, e.ObjectKind) }
}

// ForEventKind selects create/update/remove events by kind.
func ForEventKind(kinds ...EventKind) EventFilter {
	return func(e Event) bool { return slices.Contains(kinds, e.Kind) }
}

// ForID selects events of objects with one of the IDs.
func ForID(ids ...string) EventFilter {
	return func(e Event) bool { return slices.Contains(ids, e.Object.GetId()) }
}

// ForService selects the service itself and the tasks of the service.
func ForService(serviceID string) EventFilter {
	return func(e Event) bool {
		switch e.ObjectKind {
		case KindService:
			return e.Object.GetId() == serviceID
		case KindTask:
			return e.Object.(*shoalv1.Task).GetServiceId() == serviceID
		}
		return false
	}
}

// ForNode selects the node itself and the tasks assigned to it before or
// after the change.
func ForNode(nodeID string) EventFilter {
	return func(e Event) bool {
		switch e.ObjectKind {
		case KindNode:
			return e.Object.GetId() == nodeID
		case KindTask:
			if e.Object.(*shoalv1.Task).GetNodeId() == nodeID {
				return true
			}
			old, _ := e.Old.(*shoalv1.Task)
			return old != nil && old.GetNodeId() == nodeID
		}
		return false
	}
}

// Or selects events any of fs selects.
func Or(fs ...EventFilter) EventFilter {
	return func(e Event) bool {
		for _, f := range fs {
			if f(e) {
				return true
			}
		}
		return false
	}
}

// watcher is one subscription: an unbounded (up to limit) queue of event
// batches drained into out by its own goroutine.
type watcher struct {
	filters []EventFilter
	routed  bool // a node's watcher (NodeWatch): filtered when routed (keep), taken by its reader, no goroutine
	out     chan Event
	notify  chan struct{} // cap 1
	done    chan struct{} // closed by cancel
	once    sync.Once

	mu      sync.Mutex
	queue   [][]Event
	pending int
	limit   int
	final   *Event // terminal event, delivered after queue, then out closes
	ended   bool   // routed: final was taken
}

func newWatcher(filters []EventFilter, limit int, routed bool) *watcher {
	w := &watcher{
		filters: filters,
		routed:  routed,
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		limit:   limit,
	}
	if !routed {
		w.out = make(chan Event, 64)
		go w.run()
	}
	return w
}

// take hands a routed watcher's reader everything queued: whole entries
// in order, then the terminal event once the watch ended.
func (w *watcher) take() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Event
	if len(w.queue) == 1 {
		out = w.queue[0] // shared, read-only: no copy
	} else {
		for _, b := range w.queue {
			out = append(out, b...)
		}
	}
	w.queue, w.pending = nil, 0
	if w.final != nil && !w.ended {
		w.ended = true
		out = append(out[:len(out):len(out)], *w.final)
	}
	return out
}

// push queues a batch; it never blocks. It reports false when the watcher
// just fell behind (and is now ending).
func (w *watcher) push(batch []Event) bool {
	w.mu.Lock()
	if w.final != nil {
		w.mu.Unlock()
		return true
	}
	ok := true
	if w.limit > 0 && w.pending+len(batch) > w.limit {
		w.queue, w.pending = nil, 0
		w.final = &Event{Kind: EventResync, Err: ErrWatcherFellBehind}
		ok = false
	} else {
		w.queue = append(w.queue, batch)
		w.pending += len(batch)
	}
	w.mu.Unlock()
	w.wake()
	return ok
}

// end delivers what is queued, then a resync event with err, then closes.
func (w *watcher) end(err error) {
	w.mu.Lock()
	if w.final == nil {
		w.final = &Event{Kind: EventResync, Err: err}
	}
	w.mu.Unlock()
	w.wake()
}

func (w *watcher) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *watcher) cancel() { w.once.Do(func() { close(w.done) }) }

func (w *watcher) run() {
	defer close(w.out)
	for {
		w.mu.Lock()
		var batch []Event
		var final *Event
		if len(w.queue) > 0 {
			batch = w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.pending -= len(batch)
		} else {
			final = w.final
		}
		w.mu.Unlock()

		switch {
		case batch != nil:
			for _, e := range batch {
				if !w.pass(e) {
					continue
				}
				select {
				case w.out <- e:
				case <-w.done:
					return
				}
			}
		case final != nil:
			select {
			case w.out <- *final:
			case <-w.done:
			}
			return
		default:
			select {
			case <-w.notify:
			case <-w.done:
				return
			}
		}
	}
}

func (w *watcher) pass(e Event) bool {
	if e.Kind == EventCommit || e.Kind == EventResync {
		return true
	}
	for _, f := range w.filters {
		if !f(e) {
			return false
		}
	}
	return true
}

// Watch subscribes to events of entries applied from now on. cancel stops
// the subscription and closes the channel; call it when done.
func (s *Store) Watch(filters ...EventFilter) (events <-chan Event, cancel func()) {
	w, cancel := s.subscribe(filters, "")
	return w.out, cancel
}

// ViewAndWatch runs fn on a consistent snapshot and subscribes atomically:
// the channel carries exactly the entries applied after that snapshot. If
// fn fails nothing is subscribed and its error is returned.
func (s *Store) ViewAndWatch(fn func(ReadTx) error, filters ...EventFilter) (events <-chan Event, cancel func(), err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.viewLocked(fn); err != nil {
		return nil, nil, err
	}
	w, cancel := s.subscribe(filters, "")
	return w.out, cancel, nil
}

// NodeWatch is one node's subscription (ViewAndWatchNode). It has no
// goroutine and no channel of events: its one reader waits on Ready and
// takes everything queued at once with Take, so a burst of entries costs
// the reader one wake-up (a dispatcher keeps one per connected node: at
// 2,400 nodes a goroutine and a 64-event channel each, and a hop per
// entry, were a fifth of the leader's goroutines).
type NodeWatch struct {
	w      *watcher
	cancel func()
}

// Ready is signalled when events may be waiting; then call Take.
func (nw *NodeWatch) Ready() <-chan struct{} { return nw.w.notify }

// Take returns the events queued since the last Take (nil if none): whole
// entries, each ending with its commit marker, in apply order. When the
// watch has ended, the last event is an EventResync (Err says why) and
// every later Take returns nil. Events are shared and read-only.
func (nw *NodeWatch) Take() []Event { return nw.w.take() }

// Cancel ends the subscription; call it when done.
func (nw *NodeWatch) Cancel() { nw.cancel() }

// ViewAndWatchNode is ViewAndWatch for one node's events: the node object
// and the tasks on it before or after each change (what ForNode selects),
// narrowed further by filters. An entry's commit marker comes only when
// the entry had such events. Events are routed to these watchers by node,
// and filtered as they are routed, so an entry costs nothing to the
// watchers of the nodes it has nothing for.
func (s *Store) ViewAndWatchNode(fn func(ReadTx) error, nodeID string, filters ...EventFilter) (*NodeWatch, error) {
	if nodeID == "" {
		return nil, fmt.Errorf("%w: ViewAndWatchNode needs a node ID", ErrInvalidObject)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.viewLocked(fn); err != nil {
		return nil, err
	}
	w, cancel := s.subscribe(filters, nodeID)
	return &NodeWatch{w: w, cancel: cancel}, nil
}

// subscribe registers a watcher: for every event, or routed by node when
// node is set.
func (s *Store) subscribe(filters []EventFilter, node string) (*watcher, func()) {
	w := newWatcher(slices.Clone(filters), s.watchLimit, node != "")
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		w.end(ErrStoreClosed)
		return w, w.cancel
	}
	s.addWatcherLocked(w, node)
	s.wmu.Unlock()
	return w, func() {
		s.wmu.Lock()
		s.removeWatcherLocked(w, node)
		s.wmu.Unlock()
		w.cancel()
	}
}

func (s *Store) addWatcherLocked(w *watcher, node string) {
	if node == "" {
		s.watchers[w] = struct{}{}
		return
	}
	set := s.nodeWatchers[node]
	if set == nil {
		set = make(map[*watcher]struct{})
		s.nodeWatchers[node] = set
	}
	set[w] = struct{}{}
}

func (s *Store) removeWatcherLocked(w *watcher, node string) {
	if node == "" {
		delete(s.watchers, w)
		return
	}
	if set := s.nodeWatchers[node]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(s.nodeWatchers, node)
		}
	}
}

// publish queues one applied entry's events (ending with its commit
// marker) for every watcher. The caller holds mu for writing, so
// publication order is apply order.
func (s *Store) publish(batch []Event) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for w := range s.watchers {
		s.pushLocked(w, "", batch)
	}
	if len(s.nodeWatchers) == 0 {
		return
	}
	for node, evs := range s.routeByNode(batch) {
		for w := range s.nodeWatchers[node] {
			if kept := w.keep(evs); kept != nil {
				s.pushLocked(w, node, kept)
			}
		}
	}
}

// keep is the part of one node's share of an entry that passes w's
// filters, or nil when no object event does (then the watcher is not
// woken at all: a node's watcher sees no commit marker for an entry that
// had nothing for it). Filtering here, on the applying goroutine, instead
// of in the watcher's own goroutine spares a wake-up per filtered entry
// and node: with thousands of nodes, most entries touch many nodes and
// many of their events (status echoes, say) are filtered.
func (w *watcher) keep(evs []Event) []Event {
	body := evs[:len(evs)-1]
	i := 0
	for i < len(body) && w.pass(body[i]) {
		i++
	}
	if i == len(body) {
		return evs // nothing filtered: no copy
	}
	kept := slices.Clone(body[:i])
	for _, e := range body[i+1:] {
		if w.pass(e) {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return append(kept, evs[len(evs)-1])
}

func (s *Store) pushLocked(w *watcher, node string, batch []Event) {
	if !w.push(batch) {
		s.removeWatcherLocked(w, node)
		s.log.Warn("store watcher fell behind; closing it", "limit", w.limit, "node", node)
	}
}

// routeByNode splits an entry's events among the nodes with watchers, each
// part ending with the entry's commit marker. wmu is held.
func (s *Store) routeByNode(batch []Event) map[string][]Event {
	routed := make(map[string][]Event)
	add := func(node string, e Event) {
		if _, ok := s.nodeWatchers[node]; ok {
			routed[node] = append(routed[node], e)
		}
	}
	commit := batch[len(batch)-1]
	for _, e := range batch[:len(batch)-1] {
		switch e.ObjectKind {
		case KindNode:
			add(e.Object.GetId(), e)
		case KindTask:
			n := e.Object.(*shoalv1.Task).GetNodeId()
			if n != "" {
				add(n, e)
			}
			if old, _ := e.Old.(*shoalv1.Task); old != nil && old.GetNodeId() != "" && old.GetNodeId() != n {
				add(old.GetNodeId(), e)
			}
		}
	}
	for node, evs := range routed {
		routed[node] = append(evs, commit)
	}
	return routed
}

// endWatchers ends every watcher with err.
func (s *Store) endWatchers(err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for w := range s.watchers {
		w.end(err)
		delete(s.watchers, w)
	}
	for node, set := range s.nodeWatchers {
		for w := range set {
			w.end(err)
		}
		delete(s.nodeWatchers, node)
	}
}

// Close ends every watcher with ErrStoreClosed; later Watch calls get a
// channel that only carries that resync event. Reads and Apply keep working.
func (s *Store) Close() {
	s.wmu.Lock()
	s.closed = true
	s.wmu.Unlock()
	s.endWatchers(ErrStoreClosed)
}
