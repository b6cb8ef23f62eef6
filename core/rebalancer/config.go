package rebalancer

import (
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// Defaults for a RebalanceConfig's unset fields.
const (
	DefaultInterval = 30 * time.Second
	DefaultWindow   = 5 * time.Minute
	// DefaultMaxMoves is used when neither the rebalance config nor the
	// service's update config say how many tasks may move at once.
	DefaultMaxMoves = 1
	// settleRetry is how soon a service that was not settled (tasks
	// starting, a move under way) is looked at again.
	settleRetry = 2 * time.Second
)

// Config is the rebalance config in effect for one service.
type Config struct {
	Plugin   string
	Interval time.Duration
	MaxMoves int
	Window   time.Duration
}

// ConfigFor resolves the rebalance config of svc: its own, else the
// cluster's (cluster may be nil). ok is false when svc is not rebalanced:
// no plugin named, disabled for the service, or a global service (one task
// per node has nowhere better to go).
func ConfigFor(cluster *shoalv1.ClusterSpec, svc *shoalv1.Service) (Config, bool) {
	spec := svc.GetSpec()
	if spec.GetGlobal() != nil {
		return Config{}, false
	}
	rc := spec.GetRebalance()
	if rc.GetDisabled() {
		return Config{}, false
	}
	if rc.GetPlugin() == "" {
		rc = cluster.GetRebalance()
	}
	if rc.GetPlugin() == "" || rc.GetDisabled() {
		return Config{}, false
	}
	c := Config{Plugin: rc.GetPlugin(), Interval: rc.GetInterval().AsDuration(), MaxMoves: int(rc.GetMaxMoves()),
		Window: rc.GetWindow().AsDuration()}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxMoves <= 0 {
		c.MaxMoves = DefaultMaxMoves
		if p := spec.GetUpdateConfig().GetParallelism(); p > 0 {
			c.MaxMoves = int(p)
		}
	}
	return c, true
}
