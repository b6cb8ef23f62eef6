package manager

import (
	"errors"
	"slices"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// followSnapshotInterval keeps this manager's Raft snapshot interval at the
// cluster's (ClusterSpec.snapshot_interval, which UpdateCluster changes)
// until the manager stops; a restarted manager takes it from its store.
func (m *Manager) followSnapshotInterval() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stopped:
			return
		default:
		}
		events, cancel, err := m.store.ViewAndWatch(func(tx store.ReadTx) error {
			cs, err := tx.FindClusters(store.All())
			if err == nil && len(cs) > 0 {
				m.followCluster(cs[0])
			}
			return err
		}, store.ForKind(store.KindCluster), store.ForEventKind(store.EventCreate, store.EventUpdate))
		if err != nil {
			m.log.Error("follow the cluster's snapshot interval", "err", err)
			return
		}
		again := m.applySnapshotIntervals(events)
		cancel()
		if !again {
			return
		}
	}
}

// followCluster applies what this manager takes from the cluster object.
func (m *Manager) followCluster(c *shoalv1.Cluster) {
	removed := slices.Clone(c.GetRemovedNodes())
	m.removed.Store(&removed)
	m.setSnapshotInterval(c.GetSpec())
	m.applyAutolock(c)
}

// applySnapshotIntervals applies each change of the cluster until the watch
// ends (true: watch again, as after a snapshot restore) or the manager or
// its store stops (false).
func (m *Manager) applySnapshotIntervals(events <-chan store.Event) bool {
	for {
		select {
		case <-m.stopped:
			return false
		case ev, ok := <-events:
			switch {
			case !ok:
				return true
			case ev.Kind == store.EventResync:
				return !errors.Is(ev.Err, store.ErrStoreClosed)
			}
			if c, ok := ev.Object.(*shoalv1.Cluster); ok {
				m.followCluster(c)
			}
		}
	}
}

func (m *Manager) setSnapshotInterval(spec *shoalv1.ClusterSpec) {
	if rn := m.rn(); rn != nil {
		rn.SetSnapshotInterval(spec.GetSnapshotInterval())
	}
}
