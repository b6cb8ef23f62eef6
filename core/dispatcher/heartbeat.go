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

// streamGone shortens the life of session s of node nodeID, whose stream
// ended, to one heartbeat period: a node whose process died (its
// connection closed by its kernel) is DOWN within a period instead of
// after the heartbeats' grace, at no cost in traffic, while an agent whose
// connection merely broke opens a new session well within it (its first
// reconnect waits MinBackoff). A later heartbeat of s still extends it.
func (d *Dispatcher) streamGone(nodeID string, s *session) {
	now := d.cfg.Clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	by := now.Add(d.period)
	if e := d.nodes[nodeID]; e != nil && e.sess == s && by.Before(e.deadline) {
		e.deadline = by
	}
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
