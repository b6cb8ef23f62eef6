package gossip

import (
	"context"
	"sync"
)

// Watch streams the table's changes: first an Added for every entry known
// now, then every change as it happens, in order. The channel is closed
// when ctx ends or the member closes. A slow reader never blocks the
// member: changes queue for it.
func (m *Member) Watch(ctx context.Context) <-chan Change {
	out := make(chan Change)
	w := &watcher{ctx: ctx, signal: make(chan struct{}, 1)}
	err := m.do(func() {
		var initial []Change
		for _, e := range m.table.entries() {
			initial = append(initial, Change{Kind: Added, Entry: e})
		}
		w.push(initial)
		m.watchers = append(m.watchers, w)
	})
	if err != nil {
		close(out)
		return out
	}
	go w.forward(out, m.stopped)
	return out
}

// notify queues changes for every watcher and forgets the ones whose
// context ended.
func (m *Member) notify(changes []Change) {
	if len(changes) == 0 {
		return
	}
	kept := m.watchers[:0]
	for _, w := range m.watchers {
		if w.ctx.Err() != nil {
			continue
		}
		w.push(changes)
		kept = append(kept, w)
	}
	clear(m.watchers[len(kept):])
	m.watchers = kept
}

type watcher struct {
	ctx     context.Context
	signal  chan struct{}
	mu      sync.Mutex
	pending []Change
}

func (w *watcher) push(changes []Change) {
	if len(changes) == 0 {
		return
	}
	w.mu.Lock()
	w.pending = append(w.pending, changes...)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *watcher) take() []Change {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.pending
	w.pending = nil
	return out
}

func (w *watcher) forward(out chan<- Change, stopped <-chan struct{}) {
	defer close(out)
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-stopped:
			return
		case <-w.signal:
		}
		for _, c := range w.take() {
			select {
			case out <- c:
			case <-w.ctx.Done():
				return
			case <-stopped:
				return
			}
		}
	}
}
