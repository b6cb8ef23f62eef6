package dispatcher

import (
	"time"

	"github.com/shoal-project/shoal/core/store"
	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// The heartbeat period is the cluster's setting (ClusterSpec.heartbeat_period,
// changed with UpdateCluster): Run follows the cluster object, and every
// session is told the current period in its first message and in each
// heartbeat response, so agents switch at their next heartbeat.

// heartbeatPeriod is the period agents are told to heartbeat at.
func (d *Dispatcher) heartbeatPeriod() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.period
}

// graceLocked is how long a session lives without a heartbeat. d.mu is held.
func (d *Dispatcher) graceLocked() time.Duration {
	return d.period * time.Duration(d.cfg.GraceMultiplier)
}

// watchClusterSpec applies the cluster's spec now and returns the events of
// its later changes. d.mu is taken after the store's view ends, never
// inside it.
func (d *Dispatcher) watchClusterSpec() (<-chan store.Event, func(), error) {
	var c *shoalv1.Cluster
	events, cancel, err := d.store.ViewAndWatch(func(tx store.ReadTx) error {
		cs, err := tx.FindClusters(store.All())
		if len(cs) > 0 {
			c = cs[0]
		}
		return err
	}, store.ForKind(store.KindCluster), store.ForEventKind(store.EventCreate, store.EventUpdate))
	if err == nil {
		d.applyClusterSpec(c.GetSpec())
		d.applyGossipKeys(c.GetGossipKeys())
	}
	return events, cancel, err
}

// applyClusterSpec takes the heartbeat period of spec, when it sets one.
func (d *Dispatcher) applyClusterSpec(spec *shoalv1.ClusterSpec) {
	p := spec.GetHeartbeatPeriod().AsDuration()
	if p <= 0 {
		return
	}
	d.mu.Lock()
	old := d.period
	d.period = p
	d.mu.Unlock()
	if old != p {
		d.log.Info("heartbeat period changed", "old", old, "period", p)
	}
}
