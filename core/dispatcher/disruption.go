package dispatcher

import (
	"cmp"
	"slices"
	"time"
)

// The disruption guard. When many nodes of a large cluster miss their
// heartbeats at once, the fault is more likely this manager's own (it is
// overloaded, or cut off) than the nodes': marking them all DOWN makes the
// orchestrator re-create their tasks elsewhere, which loads the leader
// further and makes more heartbeats late (the "session storm" of issue 14:
// 2,400 nodes x 100k tasks, 446k tasks created for 100k replicas). So, as
// Kubernetes' node lifecycle controller does, DOWN marking is rate-limited
// while the cluster is disrupted: in a cluster of at least
// Config.DisruptionMinNodes nodes, when more than Config.DisruptionThreshold
// of them are unhealthy (expired now, or marked DOWN by this dispatcher
// within the last grace), at most one node is marked DOWN per
// Config.DisruptedDownInterval, the one silent the longest first, until at
// most half the threshold are unhealthy (so that the last held nodes, often
// still reconnecting, are not downed together when the guard lets go). The others
// are held: they stay READY, a heartbeat of their session or a new session
// makes them healthy again, and they are downed in turn if neither comes.
// Outside a disruption a large cluster still marks at most a hundredth of
// its nodes (at least 5) DOWN per heartbeat period, longest silent first
// (downBudgetLocked). Small clusters (a 3-node cluster's SIGKILLed worker)
// are never held.

// Disruption guard defaults.
const (
	DefaultDisruptionMinNodes  = 50
	DefaultDisruptionThreshold = 0.1
)

// guard is the disruption guard's state. d.mu guards it.
type guard struct {
	downAt    map[string]time.Time // nodes this dispatcher downed, by node ID
	lastDown  time.Time            // last DOWN marking allowed while disrupted
	disrupted bool
}

// DisruptionStats is the disruption guard's view (tests, metrics).
type DisruptionStats struct {
	Disrupted bool
	Unhealthy int // expired or recently downed nodes
	Total     int // nodes tracked: with a session, awaited, or recently downed
	Held      int // expired nodes left READY by the guard at the last scan
}

// pruneDownsLocked forgets DOWN markings older than a grace: the guard
// measures nodes failing together, not nodes long dead. d.mu is held.
func (d *Dispatcher) pruneDownsLocked(now time.Time) {
	for id, at := range d.guard.downAt {
		if now.Sub(at) > d.graceLocked() {
			delete(d.guard.downAt, id)
		}
	}
}

// admitDownsLocked returns the nodes of expired that may be marked DOWN at
// now: all of them unless the cluster is disrupted, else at most one per
// DisruptedDownInterval, the longest silent first. d.mu is held.
func (d *Dispatcher) admitDownsLocked(expired []string, now time.Time) []string {
	d.pruneDownsLocked(now)
	total := len(d.nodes)
	for id := range d.guard.downAt {
		if _, ok := d.nodes[id]; !ok {
			total++
		}
	}
	unhealthy := len(expired) + len(d.guard.downAt)
	threshold := d.cfg.DisruptionThreshold
	if d.guard.disrupted {
		threshold /= 2 // hysteresis: the last held nodes are not downed at once
	}
	disrupted := total >= d.cfg.DisruptionMinNodes && float64(unhealthy) > threshold*float64(total)
	d.noteDisruptionLocked(disrupted, unhealthy, total, len(expired))
	if len(expired) == 0 || !disrupted && total < d.cfg.DisruptionMinNodes {
		d.stats = DisruptionStats{Disrupted: disrupted, Unhealthy: unhealthy, Total: total}
		return expired
	}
	slices.SortFunc(expired, func(a, b string) int {
		return cmp.Or(d.nodes[a].lastBeat.Compare(d.nodes[b].lastBeat), cmp.Compare(a, b))
	})
	if !disrupted {
		admitted := expired[:min(len(expired), d.downBudgetLocked(total, now))]
		d.stats = DisruptionStats{Unhealthy: unhealthy, Total: total, Held: len(expired) - len(admitted)}
		return admitted
	}
	var admitted []string
	if d.guard.lastDown.IsZero() || now.Sub(d.guard.lastDown) >= d.disruptedIntervalLocked() {
		admitted = expired[:1]
		d.guard.lastDown = now
	}
	held := len(expired) - len(admitted)
	d.stats = DisruptionStats{Disrupted: true, Unhealthy: unhealthy, Total: total, Held: held}
	return admitted
}

// disruptedIntervalLocked is the time between DOWN markings while
// disrupted: DisruptedDownInterval, else the heartbeat period. d.mu is held.
// downRate is how many nodes a large cluster (DisruptionMinNodes or more)
// that is not disrupted may mark DOWN per heartbeat period: a hundredth of
// its nodes, at least downRateMin. Kubernetes always rate-limits evictions
// (0.1 node/s by default); here a real failure of a rack of 170 of 2,400
// nodes is all DOWN within 8 periods (40 s), while a burst of agents that
// a loaded machine kept silent (7 % of 2,400 at once, in the benchmark)
// is not, since most of them come back within a period or two and are
// healthy again.
const (
	downRateDivisor = 100
	downRateMin     = 5
)

// downBudgetLocked is how many more nodes may be marked DOWN now: the
// period's rate minus those downed within the last period. d.mu is held.
func (d *Dispatcher) downBudgetLocked(total int, now time.Time) int {
	recent := 0
	for _, at := range d.guard.downAt {
		if now.Sub(at) < d.period {
			recent++
		}
	}
	return max(0, max(downRateMin, total/downRateDivisor)-recent)
}

func (d *Dispatcher) disruptedIntervalLocked() time.Duration {
	if d.cfg.DisruptedDownInterval > 0 {
		return d.cfg.DisruptedDownInterval
	}
	return d.period
}

// noteDisruptionLocked logs the guard's changes of state. d.mu is held.
func (d *Dispatcher) noteDisruptionLocked(disrupted bool, unhealthy, total, expired int) {
	if disrupted == d.guard.disrupted {
		return
	}
	d.guard.disrupted = disrupted
	if disrupted {
		d.log.Warn("disruption: many nodes missed their heartbeats at once; marking them DOWN slowly (this manager may be overloaded or cut off)",
			"unhealthy", unhealthy, "nodes", total, "expired", expired, "down_every", d.disruptedIntervalLocked())
		return
	}
	d.log.Warn("disruption over: nodes are marked DOWN as soon as they expire", "unhealthy", unhealthy, "nodes", total)
}

// Disruption returns the disruption guard's state at the last scan.
func (d *Dispatcher) Disruption() DisruptionStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}
