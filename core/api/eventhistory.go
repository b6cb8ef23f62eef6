package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Errors that end an event subscription.
var (
	// ErrEventsGone: the version a subscription resumes from is older than
	// the oldest change the history still holds.
	ErrEventsGone = errors.New("events: the changes after that version are no longer kept")
	// ErrSubscriberFellBehind: the subscriber did not read its queue fast
	// enough; it may resume from the last version it got.
	ErrSubscriberFellBehind = errors.New("events: the watcher fell behind")
	// ErrHistoryReset: the store was replaced by a snapshot (or the history
	// could not follow it), so changes in between were never seen.
	ErrHistoryReset = errors.New("events: the store was replaced by a snapshot; changes in between are not known")
	// ErrHistoryClosed: the manager is stopping (or not following its
	// store yet).
	ErrHistoryClosed = errors.New("events: the manager is not following its store (starting or stopping)")
)

// Defaults of an EventHistory.
const (
	DefaultEventHistory = 5000 // events kept for resuming
	DefaultEventBacklog = 1024 // batches queued per subscriber
)

// EventBatch is the events of one store entry (or, first in a
// subscription, of every kept entry after the version resumed from), with
// the store version the subscription has reached.
type EventBatch struct {
	Version uint64
	Events  []*shoalv1.Event
}

// EventHistory keeps the latest store changes as API events, so a watcher
// that reconnects can resume from the last version it saw, and hands live
// ones to subscribers. Every manager keeps its own: it follows its store
// from the moment it starts, and the versions are Raft indexes, the same on
// every manager.
type EventHistory struct {
	st      *store.Store
	limit   int
	backlog int
	now     func() time.Time
	log     *slog.Logger

	mu      sync.Mutex
	entries []EventBatch // oldest first
	kept    int          // events in entries
	floor   uint64       // every entry above floor is kept
	head    uint64       // the last version seen
	subs    map[*EventSub]struct{}
	// following is set once Run follows the store: subscriptions wait
	// for it, so none starts at a version the history never saw.
	following bool
	closed    bool
}

// NewEventHistory returns a history of st's changes keeping about limit
// events (<= 0: DefaultEventHistory); Run feeds it.
func NewEventHistory(st *store.Store, limit int, log *slog.Logger) *EventHistory {
	if limit <= 0 {
		limit = DefaultEventHistory
	}
	return &EventHistory{st: st, limit: limit, backlog: DefaultEventBacklog, now: time.Now, log: log, subs: make(map[*EventSub]struct{})}
}

// Run follows the store until ctx ends or the store closes.
func (h *EventHistory) Run(ctx context.Context) {
	defer h.close()
	for ctx.Err() == nil {
		ch, cancel := h.st.Watch()
		h.reset(h.st.AppliedIndex())
		err := h.follow(ctx, ch)
		cancel()
		if errors.Is(err, store.ErrStoreClosed) {
			return
		}
		if err != nil {
			h.log.Info("event history restarts", "reason", err)
		}
	}
}

// follow records the entries of ch until it ends (with why) or ctx does.
func (h *EventHistory) follow(ctx context.Context, ch <-chan store.Event) error {
	var pending []*shoalv1.Event
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-ch:
			switch {
			case !ok:
				return store.ErrStoreClosed
			case e.Kind == store.EventResync:
				return e.Err
			case e.Kind == store.EventCommit:
				h.record(EventBatch{Version: e.Index, Events: pending})
				pending = nil
			default:
				pending = append(pending, h.apiEvent(e))
			}
		}
	}
}

// apiEvent is e as the API sends it: secrets stripped.
func (h *EventHistory) apiEvent(e store.Event) *shoalv1.Event {
	ts := e.Object.GetMeta().GetUpdatedAt()
	if e.Kind == store.EventRemove || ts == nil {
		ts = timestamppb.New(h.now())
	}
	return &shoalv1.Event{
		Version: e.Index,
		Time:    ts,
		Type:    e.ObjectKind.String(),
		Action:  e.Kind.String(),
		Id:      e.Object.GetId(),
		Name:    objectName(e.Object),
		Object:  apiObject(e.Object),
	}
}

// reset forgets what is kept: the history starts at version floor. The
// subscribers of the history before (there are none the first time) may
// have missed changes: they are ended.
func (h *EventHistory) reset(floor uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endAllLocked(ErrHistoryReset)
	h.entries, h.kept, h.floor, h.head = nil, 0, floor, floor
	h.following = true
}

// record keeps one entry and hands it to the subscribers.
func (h *EventHistory) record(b EventBatch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b.Version <= h.head {
		return // applied before the history started
	}
	h.head = b.Version
	if len(b.Events) == 0 {
		return
	}
	h.entries = append(h.entries, b)
	h.kept += len(b.Events)
	for h.kept > h.limit && len(h.entries) > 1 {
		h.floor = h.entries[0].Version
		h.kept -= len(h.entries[0].Events)
		h.entries[0] = EventBatch{}
		h.entries = h.entries[1:]
	}
	for s := range h.subs {
		if !s.push(b) {
			delete(h.subs, s)
		}
	}
}

// Subscribe returns the events after version since that match (every kept
// one, in the first batch, whose Version is where the history is) and a
// subscription for the live ones. since 0 means from now on. ErrEventsGone
// when since is older than the history.
func (h *EventHistory) Subscribe(since uint64, match func(*shoalv1.Event) bool) (EventBatch, *EventSub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || !h.following {
		return EventBatch{}, nil, ErrHistoryClosed
	}
	if since != 0 && since < h.floor {
		return EventBatch{}, nil, fmt.Errorf("%w: version %d is older than %d, the oldest this manager can resume from", ErrEventsGone, since, h.floor)
	}
	first := EventBatch{Version: max(h.head, since)}
	if since != 0 {
		for _, b := range h.entries {
			if b.Version > since {
				first.Events = append(first.Events, filterEvents(b.Events, match)...)
			}
		}
	}
	s := &EventSub{h: h, match: match, since: first.Version, c: make(chan EventBatch, h.backlog), done: make(chan struct{})}
	h.subs[s] = struct{}{}
	return first, s, nil
}

func (h *EventHistory) endAllLocked(err error) {
	for s := range h.subs {
		s.end(err)
		delete(h.subs, s)
	}
}

func (h *EventHistory) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endAllLocked(ErrHistoryClosed)
	h.closed = true
}

func filterEvents(evs []*shoalv1.Event, match func(*shoalv1.Event) bool) []*shoalv1.Event {
	var out []*shoalv1.Event
	for _, e := range evs {
		if match == nil || match(e) {
			out = append(out, e)
		}
	}
	return out
}

// EventSub is one subscription to an EventHistory.
type EventSub struct {
	h     *EventHistory
	match func(*shoalv1.Event) bool
	since uint64 // entries at or below it were in the first batch
	c     chan EventBatch
	done  chan struct{} // closed with err set when the subscription ends
	err   error
	once  sync.Once
}

// push queues b's matching events; false when the subscriber fell behind
// (it is ended). The history's lock is held.
func (s *EventSub) push(b EventBatch) bool {
	if b.Version <= s.since {
		return true
	}
	evs := filterEvents(b.Events, s.match)
	if len(evs) == 0 {
		return true
	}
	select {
	case s.c <- EventBatch{Version: b.Version, Events: evs}:
		return true
	default:
		s.end(ErrSubscriberFellBehind)
		return false
	}
}

func (s *EventSub) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Next returns the next batch, or the error that ended the subscription
// (after every batch queued before it), or ctx's error.
func (s *EventSub) Next(ctx context.Context) (EventBatch, error) {
	select {
	case b := <-s.c:
		return b, nil
	default:
	}
	select {
	case b := <-s.c:
		return b, nil
	case <-s.done:
		select {
		case b := <-s.c:
			return b, nil
		default:
			return EventBatch{}, s.err
		}
	case <-ctx.Done():
		return EventBatch{}, ctx.Err()
	}
}

// Close ends the subscription.
func (s *EventSub) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
	s.end(ErrHistoryClosed)
}
