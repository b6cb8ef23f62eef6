package dispatcher

import (
	"context"
	"sync"

	"github.com/shoal-project/shoal/core/store"
)

// broadcast wakes every waiter at once: wait returns a channel that the
// next notify closes.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// watchServices wakes the assignment streams after each store entry that
// changed a service: a node with no task of a service still programs its
// ingress published ports (the routing mesh), so every node's networks
// are recomputed; a stream sends only when its node's changed.
func (d *Dispatcher) watchServices(ctx context.Context) {
	for ctx.Err() == nil {
		events, cancel, err := d.store.ViewAndWatch(func(store.ReadTx) error { return nil }, store.ForKind(store.KindService))
		if err != nil {
			d.log.Warn("dispatcher: service watch", "err", err)
			return
		}
		d.mesh.notify() // whatever changed while no watch was open
		d.relayServiceEvents(ctx, events)
		cancel()
	}
}

func (d *Dispatcher) relayServiceEvents(ctx context.Context, events <-chan store.Event) {
	changed := false
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			switch {
			case !ok || ev.Kind == store.EventResync:
				return
			case ev.Kind == store.EventCommit:
				if changed {
					d.mesh.notify()
				}
				changed = false
			default:
				changed = true
			}
		}
	}
}
