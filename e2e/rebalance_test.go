package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// rebalanceInterval is the e2e's --rebalance-interval: short, so the test
// stays well under a minute; the default is 30 s.
const rebalanceInterval = 5 * time.Second

// TestRebalanceEvensAServiceAfterAWorkerReturns is issue 15's must-show:
// two 6-replica services on 3 workers; one worker stops (its tasks move to
// the other two: 3/3/0); when it is back, the service run with
// --rebalance evener ends evenly spread (2/2/2) within the rebalance
// interval, never with fewer than 6 tasks RUNNING (sampled throughout,
// moves are start-first), while the service without --rebalance stays
// where it is. The dry run shows a move for the second service and
// changes nothing.
func TestRebalanceEvensAServiceAfterAWorkerReturns(t *testing.T) {
	var marks []string
	c := plNewCluster(t, &marks)
	m1 := c.init("m1", "--heartbeat-period", plHeartbeat.String())
	w1 := plJoinWorker(t, c, "w1", m1)
	w2 := plJoinWorker(t, c, "w2", m1)
	w3 := plJoinWorker(t, c, "w3", m1)
	workers := []*manager{w1, w2, w3}
	common := []string{"--replicas", "6", "--constraint", "node.role==worker"}
	plCreateLoopService(t, m1, &marks, "even", append(common, "--rebalance", "evener",
		"--rebalance-interval", rebalanceInterval.String(), "--rebalance-max-moves", "3")...)
	plCreateLoopService(t, m1, &marks, "still", common...)
	for _, svc := range []string{"even", "still"} {
		plWaitTasks(t, m1, svc, svc+": 2/2/2", waitTimeout, spreadIs(workers, 2, 2, 2))
	}
	if out := mustRun(t, "--data-dir", m1.dir, "service", "inspect", "--pretty", "even"); !strings.Contains(out, "Rebalance:") || !strings.Contains(out, "evener") {
		t.Errorf("service inspect --pretty does not show the rebalancer:\n%s", out)
	}

	plKillMachine(t, w3)
	for _, svc := range []string{"even", "still"} {
		plWaitTasks(t, m1, svc, svc+": the stopped worker's tasks run on the other two", waitTimeout, spreadIs(workers, 3, 3, 0))
	}

	// From here on, sample how many tasks of "even" run, as often as the
	// API answers.
	cl := m1.apiClient(t, false)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	lowest, samples := 1<<30, 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			res, err := cl.Control.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{Service: "even"}))
			if err == nil {
				n := 0
				for _, tk := range res.Msg.GetTasks() {
					if wantRunning(tk) && isRunning(tk) {
						n++
					}
				}
				mu.Lock()
				lowest, samples = min(lowest, n), samples+1
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	events := startEventsWatcher(t, m1, "--filter", "type=task")
	w3.restart("run", "--data-dir", w3.dir)
	eventually(t, startTimeout, "w3 is READY again", func() error {
		n, err := nodeByName(t, m1, "w3")
		if err != nil {
			return err
		}
		if s := n.GetStatus().GetState(); s != shoalv1.NodeState_NODE_STATE_READY {
			return fmt.Errorf("w3 is %v", s)
		}
		return nil
	})
	back := time.Now()
	// Within the interval of the node's return, plus the time the moved
	// tasks take to start on the noisy CI machine.
	_, took := plWaitTasks(t, m1, "even", "even: 2/2/2 again", rebalanceInterval+30*time.Second, spreadIs(workers, 2, 2, 2))
	t.Logf("rebalance: even spread 2/2/2 %s after w3 was READY again (interval %s)", took.Round(time.Millisecond), rebalanceInterval)
	// Keep sampling for one more interval: no further moves may dip it.
	time.Sleep(rebalanceInterval)
	stop()
	wg.Wait()
	mu.Lock()
	t.Logf("rebalance: %d samples of the running count since w3 came back, lowest %d", samples, lowest)
	if samples < 10 || lowest < 6 {
		t.Errorf("running tasks of even dipped to %d (of 6) during the moves (%d samples); moves must start the new task first", lowest, samples)
	}
	mu.Unlock()

	// The moves are in shoal events: the task asked to move, its replacement.
	asked, replaced := 0, 0
	for _, e := range events.events(t) {
		if tk := e.GetObject().GetTask(); tk.GetServiceName() == "even" && tk.GetRebalanceTarget() == w3.nodeID {
			asked++
		} else if tk.GetServiceName() == "even" && tk.GetRebalanceFrom() != "" && tk.GetNodeId() == w3.nodeID {
			replaced++
		}
		if tk := e.GetObject().GetTask(); tk.GetServiceName() == "still" && (tk.GetRebalanceTarget() != "" || tk.GetRebalanceFrom() != "") {
			t.Errorf("a task of still (no --rebalance) is in a move: %v", e)
		}
	}
	if asked == 0 || replaced == 0 {
		t.Errorf("shoal events shows %d events of tasks asked to move to w3 and %d of their replacements; want both", asked, replaced)
	}

	// "still" has no rebalancer: nothing moved, an interval and more after
	// w3 returned.
	if wait := time.Until(back.Add(rebalanceInterval + 2*time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	ts, err := serviceTasks(t, m1, "still")
	if err != nil {
		t.Fatal(err)
	}
	if err := spreadIs(workers, 3, 3, 0)(ts); err != nil {
		t.Errorf("still (no --rebalance) changed: %v", err)
	}

	// The dry run proposes a move for "still" and changes nothing.
	out := mustRun(t, "--data-dir", m1.dir, "plugin", "test", "--rebalance", "evener", "--service", "still", "--format", "json")
	var dr struct {
		Moves []struct {
			Task, ToNode, Rejected string
		} `json:"moves"`
	}
	if err := json.Unmarshal([]byte(out), &dr); err != nil {
		t.Fatalf("plugin test --rebalance --format json: %v\n%s", err, out)
	}
	if len(dr.Moves) == 0 || dr.Moves[0].Rejected != "" || dr.Moves[0].ToNode != "w3" {
		t.Errorf("dry run for still: want an accepted move to w3, got %s", out)
	}
	ts, _ = serviceTasks(t, m1, "still")
	if err := spreadIs(workers, 3, 3, 0)(ts); err != nil {
		t.Errorf("the dry run moved tasks of still: %v", err)
	}
}

// spreadIs checks that exactly want[i] tasks run (meant to and observed) on
// workers[i] and none elsewhere.
func spreadIs(workers []*manager, want ...int) func([]*shoalv1.Task) error {
	return func(ts []*shoalv1.Task) error {
		got := map[string]int{}
		for _, tk := range ts {
			if wantRunning(tk) && isRunning(tk) {
				got[tk.GetNodeId()]++
			}
		}
		total := 0
		for i, w := range workers {
			if got[w.nodeID] != want[i] {
				return fmt.Errorf("running per worker: %s", spreadText(workers, got))
			}
			total += want[i]
		}
		if n := sumValues(got); n != total {
			return fmt.Errorf("%d tasks run, want %d: %s", n, total, spreadText(workers, got))
		}
		return nil
	}
}

func spreadText(workers []*manager, got map[string]int) string {
	s := ""
	for _, w := range workers {
		s += fmt.Sprintf("%s=%d ", w.name, got[w.nodeID])
	}
	return s
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
