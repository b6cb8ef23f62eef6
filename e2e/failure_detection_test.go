package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// killPeriod is the heartbeat period of the kill test in CI: the node of a
// killed process must be DOWN one period after its session stream closed,
// well before the heartbeats' grace (3 periods) would say so. A speed
// target is not asserted here: `scripts/bench.sh kill` runs this test with
// the defaults (SHOAL_KILL_DEFAULTS=1) and records the time (target 10 s).
const killPeriod = 10 * time.Second

// TestKilledWorkerTasksRunElsewhere is the 3-node kill test: a manager and
// two workers, a service on the workers, and one worker machine SIGKILLed.
// Its tasks must run on the other worker before the heartbeats' grace ends
// (2.5 periods: generous for the closed-session signal, which takes one
// period plus the rescheduling; impossible for missed heartbeats alone).
func TestKilledWorkerTasksRunElsewhere(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks)
	var flags []string
	bound := killPeriod * 5 / 2
	if os.Getenv("SHOAL_KILL_DEFAULTS") == "" {
		flags = []string{"--heartbeat-period", killPeriod.String()}
	} else {
		bound = waitTimeout
	}
	m1 := c.init("m1", flags...)
	w1 := plJoinWorker(t, c, "w1", m1)
	w2 := plJoinWorker(t, c, "w2", m1)
	plCreateLoopService(t, m1, &marks, "victim", "--replicas", "4", "--constraint", "node.role==worker")
	ts, _ := plWaitTasks(t, m1, "victim", "4 replicas run", waitTimeout, func(ts []*shoalv1.Task) error {
		return plCheckReplicas(ts, 4)
	})
	victim := w1
	if plPerNode(ts)[w1.nodeID] == 0 {
		victim = w2
	}
	killed := time.Now()
	plKillMachine(t, victim)
	plWaitTasks(t, m1, "victim", "the killed worker's tasks run elsewhere", bound, func(ts []*shoalv1.Task) error {
		for _, tk := range ts {
			if wantRunning(tk) && tk.GetNodeId() == victim.nodeID {
				return fmt.Errorf("slot %d still meant to run on the killed %s", tk.GetSlot(), victim.name)
			}
		}
		return plCheckReplicas(ts, 4)
	})
	d := time.Since(killed)
	t.Logf("kill: tasks of the SIGKILLed %s RUNNING elsewhere %s after the kill (daemon flags %q; with the defaults the target is 10 s)", victim.name, d.Round(time.Millisecond), flags)
}
