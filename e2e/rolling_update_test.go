package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"
)

// TestRollingUpdates shares one cluster (3 managers, 2 process workers;
// the services run on the workers only, so killing a manager loses no task)
// between the rolling-update cases of issue 11: batches with a delay,
// start-first, automatic rollback, pause, the leader killed mid-roll, and
// bad input.
func TestRollingUpdates(t *testing.T) {
	start := time.Now()
	var marks []string
	c, m1, m2, m3 := plThreeManagers(t, &marks)
	plJoinWorker(t, c, "w1", m1)
	plJoinWorker(t, c, "w2", m1)
	t.Logf("cluster up after %s", time.Since(start).Round(time.Millisecond))
	var mu sync.Mutex // the parallel subtests add to marks
	create := func(t *testing.T, name string, flags ...string) string {
		var mark []string
		defer func() { mu.Lock(); marks = append(marks, mark...); mu.Unlock() }()
		return plCreateLoopService(t, m1, &mark, name, append([]string{"--replicas", "6", "--constraint", "node.role==worker",
			"--restart-delay", "500ms"}, flags...)...)
	}
	t.Run("rolls", func(t *testing.T) { rollingCases(t, m1, create) })
	t.Run("bad input", func(t *testing.T) { rollingBadInput(t, m1, &marks) })
	t.Run("the leader dies mid-roll", func(t *testing.T) {
		create(t, "failover", "--update-parallelism", "2", "--update-delay", "1s", "--update-monitor", "500ms")
		leader := c.byID(agreeOnLeader(t, []*manager{m1, m2, m3}, 3))
		var via *manager
		for _, m := range []*manager{m1, m2, m3} {
			if m != leader {
				via = m
			}
		}
		if r := via.cli(t, "service", "update", "--detach", "--env-add", "V=2", "failover"); r.Code != 0 {
			t.Fatalf("%s", r)
		}
		plWaitTasks(t, via, "failover", "the first batch started", waitTimeout, func(ts []*shoalv1.Task) error {
			for _, tk := range ts {
				if tk.GetSpecVersion() == 2 {
					return nil
				}
			}
			return fmt.Errorf("no task on the new spec yet")
		})
		plKillMachine(t, leader)
		killed := time.Now()
		svc, ts := rollOutcome(t, via, "failover", shoalv1.UpdateState_UPDATE_STATE_COMPLETED)
		perSlot := map[uint64]int{}
		for _, tk := range ts {
			if tk.GetSpecVersion() == svc.GetSpecVersion() {
				perSlot[tk.GetSlot()]++
			}
		}
		for slot := uint64(1); slot <= 6; slot++ {
			if perSlot[slot] != 1 {
				t.Errorf("slot %d got %d tasks of the new spec, want exactly 1 (%v)", slot, perSlot[slot], perSlot)
			}
		}
		t.Logf("roll completed %s after the leader was killed", time.Since(killed).Round(time.Millisecond))
	})
	t.Logf("TestRollingUpdates took %s", time.Since(start).Round(time.Millisecond))
}

// rollingCases runs the rolls that need no leader change side by side, each
// on its own service of 6 replicas made by create.
func rollingCases(t *testing.T, m1 *manager, create func(*testing.T, string, ...string) string) {
	for _, order := range []string{"stop-first", "start-first"} {
		t.Run("batches of 2, 2s apart, "+order, func(t *testing.T) {
			t.Parallel()
			name := "roll-" + order
			create(t, name, "--update-parallelism", "2", "--update-delay", "2s", "--update-monitor", "300ms", "--update-order", order)
			floor := 4
			if order == "start-first" {
				floor = 6
			}
			s := sampleRunning(t, m1, name)
			r := m1.cli(t, "service", "update", "--env-add", "V=2", name)
			samples := s.stop()
			if r.Code != 0 || !strings.Contains(r.Stdout, "verify: Service converged") {
				t.Fatalf("service update: %s", r)
			}
			if low := slices.Min(samples); low < floor {
				t.Errorf("%s: %d tasks running at the lowest of %d samples, want at least %d", order, low, len(samples), floor)
			}
			svc, ts := rollOutcome(t, m1, name, shoalv1.UpdateState_UPDATE_STATE_COMPLETED)
			if n := countOnSpec(ts, svc.GetSpecVersion()); n != 6 {
				t.Fatalf("%d tasks running on the new spec, want 6", n)
			}
			batches := batchStarts(ts, svc.GetSpecVersion())
			if len(batches) != 3 {
				t.Fatalf("new tasks created in %d batches (%v), want 3", len(batches), batches)
			}
			for i := 1; i < len(batches); i++ {
				if gap := batches[i].Sub(batches[i-1]); gap < 2*time.Second {
					t.Errorf("batch %d started %s after batch %d, want at least 2s", i+1, gap, i)
				}
			}
			t.Logf("%s: %d samples, at least %d running; batches %v", order, len(samples), slices.Min(samples), batches)
		})
	}

	badCommand := []string{"--args", "sh", "--args", "-c", "--args", "exit 3"}
	t.Run("a failing update rolls back", func(t *testing.T) {
		t.Parallel()
		create(t, "rollback", "--update-parallelism", "2", "--update-monitor", "2s", "--update-failure-action", "rollback",
			"--rollback-parallelism", "0", "--rollback-monitor", "300ms")
		r := m1.cli(t, append([]string{"service", "update"}, append(badCommand, "rollback")...)...)
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "rollback: update rolled back due to failure: ") {
			t.Fatalf("service update to a failing command: want a non-zero exit that shows the rollback:\n%s", r)
		}
		t.Logf("service update output:\n%s%s", r.Stdout, r.Stderr)
		svc, ts := rollOutcome(t, m1, "rollback", shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED)
		for _, tk := range ts {
			if wantRunning(tk) && !strings.Contains(strings.Join(tk.GetSpec().GetProcess().GetCommand(), " "), plLoop) {
				t.Fatalf("task %s (slot %d) meant to run the failing command after the rollback", tk.GetId(), tk.GetSlot())
			}
		}
		if msg := svc.GetUpdateStatus().GetMessage(); !strings.Contains(msg, "update rolled back due to failure: task") {
			t.Errorf("the rollback status does not say why: %q", msg)
		}
	})

	t.Run("a failing update pauses after the first batch", func(t *testing.T) {
		t.Parallel()
		create(t, "pause", "--update-parallelism", "2", "--update-monitor", "2s", "--update-failure-action", "pause",
			"--rollback-parallelism", "0", "--rollback-monitor", "300ms")
		r := m1.cli(t, append([]string{"service", "update"}, append(badCommand, "pause")...)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "update paused due to failure: task") {
			t.Fatalf("service update to a failing command: want a non-zero exit saying it paused:\n%s", r)
		}
		svc, _ := rollOutcome(t, m1, "pause", shoalv1.UpdateState_UPDATE_STATE_PAUSED)
		if msg := svc.GetUpdateStatus().GetMessage(); !strings.Contains(msg, "update paused due to failure: task") {
			t.Errorf("the paused status does not say why: %q", msg)
		}
		// Paused: the four slots outside the first batch keep the old spec.
		time.Sleep(time.Second)
		ts, err := serviceTasks(t, m1, "pause")
		if err != nil {
			t.Fatal(err)
		}
		slots := map[uint64]bool{}
		for _, tk := range ts {
			if tk.GetSpecVersion() == svc.GetSpecVersion() {
				slots[tk.GetSlot()] = true
			}
		}
		if len(slots) != 2 {
			t.Fatalf("%d slots got the failing spec, want the first batch of 2", len(slots))
		}
		if r := m1.cli(t, "service", "ls"); !strings.Contains(r.Stdout, "Paused") {
			t.Errorf("service ls does not show the paused update:\n%s", r.Stdout)
		}
		if r := m1.cli(t, "service", "rollback", "pause"); r.Code != 0 || !strings.Contains(r.Stdout, "verify: Service converged") {
			t.Fatalf("service rollback: %s", r)
		}
		rollOutcome(t, m1, "pause", shoalv1.UpdateState_UPDATE_STATE_ROLLBACK_COMPLETED)
	})
}

// rollingBadInput: bad update policies and a rollback with no previous
// spec are refused with an error naming the field, and change nothing.
func rollingBadInput(t *testing.T, m1 *manager, marks *[]string) {
	plCreateLoopService(t, m1, marks, "web", "--replicas", "1", "--constraint", "node.role==worker")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"negative parallelism", []string{"service", "update", "--update-parallelism", "-1", "web"}, "spec.update_config.parallelism"},
		{"unknown failure action", []string{"service", "update", "--update-failure-action", "explode", "web"}, "--update-failure-action"},
		{"rollback may not roll back", []string{"service", "update", "--rollback-failure-action", "rollback", "web"}, "--rollback-failure-action"},
		{"unknown order", []string{"service", "update", "--update-order", "sideways", "web"}, "--update-order"},
		{"ratio above 1", []string{"service", "update", "--update-max-failure-ratio", "2", "web"}, "spec.update_config.max_failure_ratio"},
		{"rollback with no previous spec", []string{"service", "rollback", "web"}, "previous_spec"},
		{"update --rollback with no previous spec", []string{"service", "update", "--rollback", "web"}, "previous_spec"},
		{"update --rollback with a spec flag", []string{"service", "update", "--rollback", "--env-add", "A=1", "web"}, "--env-add"},
		{"create with a negative parallelism", []string{"service", "create", "--name", "bad", "--update-parallelism", "-2", "--process", "--", "true"}, "spec.update_config.parallelism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := m1.cli(t, tc.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want a non-zero exit naming %s on stderr:\n%s", tc.want, r)
			}
		})
	}
	svc, _ := rollOutcome(t, m1, "web", shoalv1.UpdateState_UPDATE_STATE_UNSPECIFIED, 1)
	if svc.GetSpecVersion() != 1 || svc.GetPreviousSpec() != nil || svc.GetSpec().GetUpdateConfig() != nil {
		t.Fatalf("refused requests changed the service: %v", svc)
	}
	if r := m1.cli(t, "service", "inspect", "bad"); r.Code == 0 {
		t.Fatalf("a refused create made a service: %s", r)
	}
}

// runningSampler polls a service's tasks every 100 ms and records how many
// are meant to run and run.
type runningSampler struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	samples []int
}

func sampleRunning(t *testing.T, m *manager, svc string) *runningSampler {
	cl := m.apiClient(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningSampler{cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			res, err := cl.Control.ListTasks(ctx, connect.NewRequest(&shoalv1.ListTasksRequest{Service: svc}))
			if err == nil {
				s.samples = append(s.samples, countRunning(res.Msg.GetTasks()))
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *runningSampler) stop() []int {
	s.cancel()
	s.wg.Wait()
	if len(s.samples) == 0 {
		return []int{0}
	}
	return s.samples
}

// countRunning counts tasks meant to run that run.
func countRunning(ts []*shoalv1.Task) int {
	n := 0
	for _, tk := range ts {
		if wantRunning(tk) && isRunning(tk) {
			n++
		}
	}
	return n
}

// countOnSpec counts tasks of spec version v meant to run that run.
func countOnSpec(ts []*shoalv1.Task, v uint64) int {
	n := 0
	for _, tk := range ts {
		if tk.GetSpecVersion() == v && wantRunning(tk) && isRunning(tk) {
			n++
		}
	}
	return n
}

// batchStarts groups the creation times of the tasks of spec version v
// (those within 500 ms of the first of a group are one batch).
func batchStarts(ts []*shoalv1.Task, v uint64) []time.Time {
	var at []time.Time
	for _, tk := range ts {
		if tk.GetSpecVersion() == v {
			at = append(at, tk.GetMeta().GetCreatedAt().AsTime())
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var starts []time.Time
	for _, a := range at {
		if len(starts) == 0 || a.Sub(starts[len(starts)-1]) > 500*time.Millisecond {
			starts = append(starts, a)
		}
	}
	return starts
}

// rollOutcome waits until svc's update status is want with replicas tasks
// running (6 unless given), and returns the service and its tasks.
func rollOutcome(t *testing.T, m *manager, name string, want shoalv1.UpdateState, replicas ...int) (*shoalv1.Service, []*shoalv1.Task) {
	t.Helper()
	var svc *shoalv1.Service
	var ts []*shoalv1.Task
	eventually(t, 2*waitTimeout, fmt.Sprintf("%s's update status is %v", name, want), func() error {
		r := m.cli(t, "service", "inspect", name)
		if r.Code != 0 {
			return fmt.Errorf("%s", r)
		}
		res, err := parseList[shoalv1.GetServiceResponse](r.Stdout, "service")
		if err != nil || len(res) != 1 {
			return fmt.Errorf("inspect %s: %v", name, err)
		}
		svc = res[0].GetService()
		if got := svc.GetUpdateStatus().GetState(); got != want {
			return fmt.Errorf("status %v (%s)", got, svc.GetUpdateStatus().GetMessage())
		}
		if ts, err = serviceTasks(t, m, name); err != nil {
			return err
		}
		n := 6
		if len(replicas) > 0 {
			n = replicas[0]
		}
		if want != shoalv1.UpdateState_UPDATE_STATE_PAUSED && countRunning(ts) != n {
			return fmt.Errorf("%d tasks running, want %d", countRunning(ts), n)
		}
		return nil
	})
	return svc, ts
}
